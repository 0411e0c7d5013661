import random
import time

from django.conf import settings
from django.http import (
    HttpResponse,
    HttpResponseNotAllowed,
    JsonResponse,
    StreamingHttpResponse,
)
from django.views.decorators.csrf import csrf_exempt


def _text(body, status=200):
    return HttpResponse(body, status=status, content_type="text/plain; charset=utf-8")


def _int_param(request, name, default):
    try:
        return int(request.GET.get(name, default))
    except ValueError:
        return default


def index(request):
    return _text("release=%s\n" % settings.RELEASE)


def headers(request):
    """Echoes what the app received, so tests can check header rewriting."""
    return JsonResponse(
        {
            "release": settings.RELEASE,
            "method": request.method,
            "path": request.get_full_path(),
            "remote_addr": request.META.get("REMOTE_ADDR", ""),
            "scheme": request.scheme,
            # request.headers is built from the HTTP_* keys of request.META
            # (plus CONTENT_TYPE / CONTENT_LENGTH), names in Title-Case.
            "headers": dict(request.headers),
        }
    )


@csrf_exempt
def form(request):
    """What an ordinary Django view sees of a POST: request.body and request.POST, nothing gunicorn-specific."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    fields = ",".join(f"{k}={v}" for k, v in sorted(request.POST.items()))
    return HttpResponse(f"{len(request.body)} {fields}", content_type="text/plain")


def echo(request):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if request.META.get("CONTENT_LENGTH"):
        body = request.body
    else:
        # Django reads CONTENT_LENGTH bytes only; a chunked request body
        # has none, so read gunicorn's de-chunked input to its end.
        body = request.META["wsgi.input"].read()
    content_type = request.META.get("CONTENT_TYPE") or "application/octet-stream"
    response = HttpResponse(body, content_type=content_type)
    # The length the body came with: empty for a body gunicorn got chunked.
    response["X-Content-Length"] = request.META.get("CONTENT_LENGTH") or ""
    return response


def healthz(request):
    return _text("ok")


def slow(request):
    ms = max(0, _int_param(request, "ms", 1000))
    time.sleep(ms / 1000.0)
    return _text("slept %d ms\n" % ms)


def fail(request):
    try:
        rate = float(request.GET.get("rate", "0.5"))
    except ValueError:
        rate = 0.5
    if random.random() < rate:
        return _text("failed\n", status=500)
    return _text("ok\n")


def stream(request):
    """N chunks of S bytes; chunk i is filled with chr(ord('a') + i % 26).

    Without a Content-Length gunicorn sends it chunked, one HTTP chunk per
    yielded piece. delay_ms pauses between chunks (for streaming tests).
    """
    chunks = max(0, _int_param(request, "chunks", 10))
    size = max(1, _int_param(request, "size", 1024))
    delay = max(0, _int_param(request, "delay_ms", 0)) / 1000.0

    def generate():
        for i in range(chunks):
            if delay and i:
                time.sleep(delay)
            yield bytes([ord("a") + i % 26]) * size

    return StreamingHttpResponse(generate(), content_type="application/octet-stream")


def download(request):
    """A file-like download of N bytes (with a Content-Length): byte i is i % 251."""
    size = max(0, _int_param(request, "bytes", 1024 * 1024))
    pattern = bytes(range(251))
    body = (pattern * (size // 251 + 1))[:size]
    return HttpResponse(body, content_type="application/octet-stream")


def static_page(request):
    html = (
        "<!doctype html>\n"
        "<html><head><title>release %s</title>"
        '<link rel="stylesheet" href="/static/app.css">'
        # A name fingerprinted per build, as ManifestStaticFilesStorage
        # makes them: each release's page names its own.
        '<script src="/static/app.%s.js"></script></head>\n'
        '<body><p class="release">%s</p></body></html>\n'
    ) % (settings.RELEASE, settings.RELEASE, settings.RELEASE)
    return HttpResponse(html, content_type="text/html; charset=utf-8")
