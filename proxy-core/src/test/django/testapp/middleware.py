from django.conf import settings


class ReleaseHeaderMiddleware:
    """Adds X-Release to every response, including errors and streams, and
    Content-Length to non-streaming ones (as Django's CommonMiddleware would),
    so only StreamingHttpResponse goes out chunked."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response["X-Release"] = settings.RELEASE
        if not response.streaming and not response.has_header("Content-Length"):
            response["Content-Length"] = str(len(response.content))
        return response
