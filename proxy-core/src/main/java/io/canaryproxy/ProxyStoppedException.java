package io.canaryproxy;

/** A change asked of a proxy whose stop has begun: it takes none any more. */
public final class ProxyStoppedException extends IllegalStateException {

    private static final long serialVersionUID = 1L;

    ProxyStoppedException(String message) {
        super(message);
    }
}
