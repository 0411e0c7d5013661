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
        if (cause instanceof FileNotFoundException || cause instanceof NoSuchFileException) {
            return "no such socket file";
        }
        if (cause instanceof ConnectTimeoutException) {
            return "connect timed out";
        }
        String message = cause.getMessage();
        return message == null || message.isBlank() ? cause.getClass().getSimpleName() : message;
    }
}
