package io.canaryproxy.listener;

import io.canaryproxy.config.ConfigException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.OptionalInt;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The listening socket systemd passes under socket activation ({@code sd_listen_fds(3)}: descriptor 3, with
 * {@code LISTEN_PID} and {@code LISTEN_FDS} in the environment). The socket belongs to the {@code .socket} unit and
 * outlives the proxy's process, so a restart refuses no connection: those that arrive between the old process
 * closing its copy and the new one taking it wait in the socket's queue.
 */
final class SystemdSocket {

    /** The first descriptor systemd passes ({@code SD_LISTEN_FDS_START}). */
    static final int FD = 3;

    /**
     * Whether this process has taken the socket: once its first listener closes descriptor 3, the number may be
     * reused by any file, so a proxy started after it in the same JVM binds {@code proxy.listen} instead.
     */
    private static final AtomicBoolean taken = new AtomicBoolean();

    private SystemdSocket() {
    }

    /** The socket systemd passed this process, the first time it is asked for; empty when there is none. */
    static OptionalInt take(Map<String, String> env, long pid) {
        OptionalInt fd = passed(env, pid);
        return fd.isPresent() && taken.compareAndSet(false, true) ? fd : OptionalInt.empty();
    }

    /**
     * The socket systemd passed to process {@code pid}, if any. Variables meant for another process (a
     * {@code LISTEN_PID} that is not ours: a parent's, passed down) are ignored, as {@code sd_listen_fds} does.
     *
     * @throws ConfigException when systemd passed more than one socket
     */
    static OptionalInt passed(Map<String, String> env, long pid) {
        String listenPid = env.get("LISTEN_PID");
        String listenFds = env.get("LISTEN_FDS");
        if (listenPid == null || listenFds == null || !listenPid.equals(Long.toString(pid))) {
            return OptionalInt.empty();
        }
        int count;
        try {
            count = Integer.parseInt(listenFds);
        } catch (NumberFormatException e) {
            count = -1;
        }
        if (count == 0) {
            return OptionalInt.empty();
        }
        if (count != 1) {
            throw new ConfigException("systemd passed LISTEN_FDS=" + listenFds + "; canary-proxy takes one listening"
                    + " socket, its public listener: give its .socket unit a single ListenStream=");
        }
        return OptionalInt.of(FD);
    }

    /**
     * Refuses a socket in blocking mode, as systemd passes it unless the service unit says
     * {@code NonBlocking=true}: the event loop accepts until the queue is empty, and the accept after the last
     * connection would block the loop until the next one arrived. Java cannot clear the flag itself; the kernel
     * shows it in {@code fdinfo}.
     */
    static void checkNonBlocking(int fd) {
        Path info = Path.of("/proc/self/fdinfo/" + fd);
        try {
            for (String line : Files.readAllLines(info)) {
                if (line.startsWith("flags:")) {
                    int flags = Integer.parseInt(line.substring("flags:".length()).trim(), 8);
                    if ((flags & O_NONBLOCK) == 0) {
                        throw new ConfigException("the listening socket systemd passed is in blocking mode, which"
                                + " would stall the event loop: set NonBlocking=true in canary-proxy's .service unit");
                    }
                    return;
                }
            }
        } catch (IOException | NumberFormatException e) {
            throw new ConfigException("cannot tell whether the listening socket systemd passed (descriptor " + fd
                    + ") is non-blocking: " + info + " unreadable (" + e.getMessage() + ")", e);
        }
    }

    /** {@code O_NONBLOCK} on Linux, whose {@code fdinfo} shows the flags in octal. */
    private static final int O_NONBLOCK = 04000;
}
