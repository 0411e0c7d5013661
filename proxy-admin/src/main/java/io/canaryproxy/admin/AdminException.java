package io.canaryproxy.admin;

import io.netty.handler.codec.http.HttpResponseStatus;

/** A request the admin API refuses; answered as {@code {"error": message}} with {@link #status()}. */
final class AdminException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    private final transient HttpResponseStatus status;

    AdminException(HttpResponseStatus status, String message) {
        super(message, null, false, false);
        this.status = status;
    }

    static AdminException badRequest(String message) {
        return new AdminException(HttpResponseStatus.BAD_REQUEST, message);
    }

    HttpResponseStatus status() {
        return status;
    }
}
