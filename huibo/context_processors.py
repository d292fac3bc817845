"""What every page's template needs beyond Django's own context processors."""

from django.http import HttpRequest
from django.utils.translation import get_language_from_path


def language_switch(request: HttpRequest) -> dict[str, str]:
    """The page's address without its language prefix, for the language switcher's ``next``.

    Django's ``set_language`` resolves ``next`` in the default language, whose addresses have no prefix: given
    ``/zh-hans/portal/`` it finds no page, leaves it as it is, and the reader who chose English stays in Chinese.
    Given ``/portal/`` it finds the page and adds whatever prefix the chosen language takes.
    """
    path = request.get_full_path()
    language = get_language_from_path(request.path_info)
    if language and path.startswith(f"/{language}/"):
        path = path[len(language) + 1 :]
    return {"language_switch_next": path}
