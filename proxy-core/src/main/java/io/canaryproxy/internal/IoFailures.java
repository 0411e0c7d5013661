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
     * ENOENT from a connect to a Unix socket: the native transports throw {@link FileNotFoundException}, Java's own
     * sockets a {@code SocketException} that says so only in its message.
     */
    public static boolean isMissingFile(Throwable cause) {
        if (cause instanceof FileNotFoundException || cause instanceof NoSuchFileException) {
            return true;
        }
        String message = cause.getMessage();
        return message != null && (message.contains("No such file or directory") || message.contains("error(-2)"));
    }
}
