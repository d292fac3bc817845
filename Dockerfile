# The Huibo application image: web (gunicorn), Celery worker and beat, and the AMI listener.
FROM python:3.11-slim-bookworm
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends gettext && rm -rf /var/lib/apt/lists/*
COPY requirements.lock pyproject.toml ./
RUN pip install --no-cache-dir -r requirements.lock
COPY . .
RUN DATABASE_URL=sqlite:////tmp/build.sqlite3 SECRET_KEY=build python manage.py collectstatic --noinput
RUN useradd --system huibo && mkdir -p /app/var && chown huibo /app/var
USER huibo
EXPOSE 8000
CMD ["gunicorn", "huibo.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3"]
