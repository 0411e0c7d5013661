package io.canaryproxy.admin;

/** Why a {@code ctl} command failed, as one line for stderr, with the exit status it ends with. */
final class CtlException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    private final int exitStatus;

    CtlException(int exitStatus, String message) {
        super(message, null, false, false);
        this.exitStatus = exitStatus;
    }

    int exitStatus() {
        return exitStatus;
    }
}
