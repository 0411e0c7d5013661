import io
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "testapp.settings")

application = get_wsgi_application()


def _warm_up():
    """Serves one GET /healthz inside the worker as it boots, before it accepts a connection.

    Django loads the URL configuration and the views on a worker's first request: about 70 ms of CPU on an idle
    host, seconds on a busy two-core one. Gunicorn.start() returns once one worker has answered, so the first
    request another worker took (often a health check, or the gate of a switch, which waits 2 s) paid that
    cost. /healthz is left alone by the fault injection, so FAIL_FIRST_MS still counts from the first real
    request.
    """
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/healthz",
        "QUERY_STRING": "",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    statuses = []
    response = application(environ, lambda status, headers, exc_info=None: statuses.append(status))
    try:
        for _ in response:
            pass
    finally:
        response.close()
    if not statuses or not statuses[0].startswith("200"):
        raise RuntimeError("warm-up GET /healthz answered %s" % statuses)


_warm_up()
