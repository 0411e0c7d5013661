package io.canaryproxy.admin;

/**
 * The proxy or its admin API could not start for a reason the operator has to fix (a port in use, an exposed admin
 * listener without a token). The message is one line meant to be shown as it is.
 */
public final class StartupException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    public StartupException(String message) {
        super(message);
    }

    public StartupException(String message, Throwable cause) {
        super(message, cause);
    }
}
