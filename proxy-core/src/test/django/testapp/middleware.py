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


class FaultInjectionMiddleware:
    """Makes a release misbehave on purpose, for canary-analysis tests: with
    FAIL_RATE=0.3 in its environment, 30 % of requests (all but /healthz) get a
    500; with EXTRA_LATENCY_MS=200, every such request takes 200 ms longer;
    with FAIL_FIRST_MS=700, every such request gets a 500 for 700 ms from the
    first one the worker sees (a release warming up); with SLOW_WHILE_FILE set
    to a path, every such request takes 200 ms longer while that file exists;
    with UNHEALTHY_WHILE_FILE set to a path, /healthz answers 503 while that
    file exists (a release a test takes down and brings back on demand)."""

    def __init__(self, get_response):
        import os
        self.get_response = get_response
        self.fail_rate = float(os.environ.get("FAIL_RATE", "0") or 0)
        self.extra_latency = float(os.environ.get("EXTRA_LATENCY_MS", "0") or 0) / 1000.0
        self.fail_first = float(os.environ.get("FAIL_FIRST_MS", "0") or 0) / 1000.0
        self.first_request_at = None
        self.slow_while = os.environ.get("SLOW_WHILE_FILE") or None
        self.unhealthy_while = os.environ.get("UNHEALTHY_WHILE_FILE") or None

    def __call__(self, request):
        import os
        import random
        import time
        from django.http import HttpResponse
        if request.path == "/healthz":
            if self.unhealthy_while and os.path.exists(self.unhealthy_while):
                return HttpResponse("unhealthy\n", status=503, content_type="text/plain")
        else:
            if self.extra_latency:
                time.sleep(self.extra_latency)
            if self.slow_while and os.path.exists(self.slow_while):
                time.sleep(0.2)
            if self.fail_rate and random.random() < self.fail_rate:
                return HttpResponse("injected failure\n", status=500, content_type="text/plain")
            if self.fail_first:
                now = time.monotonic()
                if self.first_request_at is None:
                    self.first_request_at = now
                if now - self.first_request_at < self.fail_first:
                    return HttpResponse("warming up\n", status=500, content_type="text/plain")
        return self.get_response(request)
