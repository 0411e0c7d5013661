package io.canaryproxy.internal;

import io.netty.channel.ChannelException;
import io.netty.channel.ConnectTimeoutException;
import java.io.FileNotFoundException;
import java.lang.reflect.InvocationTargetException;
import java.nio.file.NoSuchFileException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** I/O failures as an operator reads them, in health reasons, ejections and the failure log. */
public final class IoFailures {

    private IoFailures() {
    }

    /**
     * The native transports' wording: the system call (io_uring's prefixed: {@code io_uring connect(..)}), the
     * errno, then the system's text.
     */
    private static final Pattern NATIVE = Pattern.compile(
            "(?:io_uring )?\\w+\\(\\.\\.\\) failed(?: with error\\(-?\\d+\\))?: (.+)", Pattern.DOTALL);
    /** The peer's address some messages end with ({@code Connection refused: /127.0.0.1:8001}). */
    private static final Pattern TRAILING_ADDRESS = Pattern.compile(": [\\w.-]*/\\S+$");

    /**
     * What went wrong in the system's words ({@code connection refused}, {@code connection reset by peer}), without
     * the system call and errno Netty's native transports put before them or the address some add after: the
     * caller names the endpoint. For the exceptions that carry no message, what they mean.
     */
    public static String describe(Throwable cause) {
        cause = unwrapCreation(cause);
        if (isMissingFile(cause)) {
            return "no such file or directory";
        }
        if (cause instanceof ConnectTimeoutException) {
            return "connect timed out";
        }
        String message = cause.getMessage();
        if (message == null || message.isBlank()) {
            return cause.getClass().getSimpleName();
        }
        Matcher nativeCall = NATIVE.matcher(message);
        String text = TRAILING_ADDRESS.matcher(nativeCall.matches() ? nativeCall.group(1) : message).replaceFirst("");
        // "Connection refused" reads as the sentence it is part of; "IOException" or "EOF" stays as it is.
        return text.length() > 1 && Character.isUpperCase(text.charAt(0)) && Character.isLowerCase(text.charAt(1))
                ? Character.toLowerCase(text.charAt(0)) + text.substring(1) : text;
    }

    /**
     * {@link #describe} for a connect to an endpoint, where a missing file can only be the endpoint's socket file (a
     * gunicorn not started, or one that removed it as it stopped).
     */
    public static String describeConnect(Throwable cause) {
        Throwable c = unwrapCreation(cause);
        return isMissingFile(c) ? "no such socket file" : describe(c);
    }

    /**
     * Whether the proxy itself ran out of file descriptors (EMFILE, or ENFILE for the whole system) and so could not
     * open a socket or accept a connection: its own limit, not a fault of the endpoint or the client.
     */
    public static boolean isOutOfDescriptors(Throwable cause) {
        for (Throwable c = cause; c != null; c = c.getCause()) {
            // ENFILE's text is "Too many open files in system"; a native transport may give only the errno.
            if (says(c, "Too many open files", "error(-24)")
                    || says(c, "error(-23)", "Too many open files in system")) {
                return true;
            }
        }
        return false;
    }

    /**
     * The reason a channel could not be made. Netty wraps it in a {@link ChannelException} that names the channel's
     * class ({@code Unable to create Channel from class …}) or the step ({@code Failed to open a socket.}), a
     * reflective factory in an {@link InvocationTargetException} as well: the system's error is inside.
     */
    private static Throwable unwrapCreation(Throwable cause) {
        Throwable c = cause;
        while (c.getCause() != null && (c instanceof InvocationTargetException || c instanceof ChannelException)) {
            c = c.getCause();
        }
        return c;
    }

    /**
     * A connect that failed at once, telling that nothing the proxy may use listens there: no socket file, a
     * refusal (the socket file or port is there, the process is not), or a socket file the proxy's user may not
     * write to (fixed by a chmod, and then served at once). A timeout or an unreachable host costs far more; a full
     * backlog or a connect cut short is a moment, not a dead endpoint.
     */
    public static boolean isRefused(Throwable cause) {
        for (Throwable c = cause; c != null; c = c.getCause()) {
            if (isMissingFile(c) || says(c, "error(-111)", "Connection refused")
                    || says(c, "error(-13)", "Permission denied")) {
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
