from django.urls import path

from billing import views

app_name = "billing"

urlpatterns = [
    path("", views.balance, name="balance"),
    path("ledger.csv", views.ledger_export, name="ledger_csv"),
    path("invoices/", views.invoice_list, name="invoices"),
    path("invoices/<int:pk>/pdf/", views.invoice_download, {"kind": "pdf"}, name="invoice_pdf"),
    path("invoices/<int:pk>/csv/", views.invoice_download, {"kind": "csv"}, name="invoice_csv"),
]
