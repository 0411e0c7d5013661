package io.canaryproxy.internal;

import io.netty.channel.ConnectTimeoutException;
import java.io.FileNotFoundException;
import java.nio.file.NoSuchFileException;

/** Upstream I/O failures as an operator reads them, in health reasons, ejections and the failure log. */
public final class IoFailures {

    private IoFailures() {
    }

    /**
     * The system's message ({@code connect(..) failed with error(-111): Connection refused}), or for the exceptions
     * that carry none, what they mean.
     */
    public static String describe(Throwable cause) {
        if (isMissingFile(cause)) {
            return "no such socket file";
        }
        if (cause instanceof ConnectTimeoutException) {
            return "connect timed out";
        }
        String message = cause.getMessage();
        return message == null || message.isBlank() ? cause.getClass().getSimpleName() : message;
    }

    /**
     * A connect that failed at once, telling that nothing listens there: no socket file, or a refusal (the socket
     * file or port is there, the process is not). A timeout or an unreachable host costs far more; a full backlog
     * or a connect cut short is a moment, not a dead endpoint.
     */
    public static boolean isRefused(Throwable cause) {
        for (Throwable c = cause; c != null; c = c.getCause()) {
            if (isMissingFile(c) || says(c, "error(-111)", "Connection refused")) {
                return true;
            }
        }
        return false;
    }

    /**
     * EAGAIN from connect: over a Unix socket, the listener's backlog is full (over TCP the kernel queues). The
     * native transports report it only in the message ({@code connect(..) failed with error(-11): Resource
     * temporarily unavailable}), Java's own sockets with the system's text.
     */
    public static boolean isBusy(Throwable cause) {
        for (Throwable c = cause; c != null; c = c.getCause()) {
            if (says(c, "error(-11)", "Resource temporarily unavailable")) {
                return true;
            }
        }
        return false;
    }

    /**
     * ENOENT from a connect to a Unix socket: the native transports throw {@link FileNotFoundException}, Java's own
     * sockets a {@code SocketException} that says so only in its message.
     */
    public static boolean isMissingFile(Throwable cause) {
        return cause instanceof FileNotFoundException || cause instanceof NoSuchFileException
                || says(cause, "No such file or directory", "error(-2)");
    }

    /** Whether the message of {@code cause} itself (not of its causes) holds {@code one} or {@code other}. */
    private static boolean says(Throwable cause, String one, String other) {
        String message = cause.getMessage();
        return message != null && (message.contains(one) || message.contains(other));
    }
}
