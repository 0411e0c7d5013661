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
     * Refuses a descriptor that is not a listening TCP socket (a {@code ListenStream=} of a path, a datagram socket),
     * which Netty would take for one without a word, and a socket in blocking mode, as systemd passes it unless the
     * service unit says {@code NonBlocking=true}: the event loop accepts until the queue is empty, and the accept
     * after the last connection would block the loop until the next one arrived. Java cannot ask the socket itself;
     * the kernel shows its flags in {@code fdinfo} and its kind and state in {@code /proc/net/tcp}.
     */
    static void check(int fd) {
        String problem;
        try {
            problem = problem(fd);
        } catch (IOException | RuntimeException e) {
            problem = "cannot be checked (" + e.getMessage() + ")";
        }
        if (problem != null) {
            throw new ConfigException("descriptor " + fd + ", the socket systemd passed, " + problem);
        }
    }

    private static String problem(int fd) throws IOException {
        String target = Files.readSymbolicLink(Path.of("/proc/self/fd/" + fd)).toString();
        if (!target.startsWith("socket:[")) {
            return "is no socket but " + target + ": give canary-proxy's .socket unit a ListenStream= of an address"
                    + " and port";
        }
        String inode = target.substring("socket:[".length(), target.length() - 1);
        if (!isListeningTcp(inode)) {
            return "is not a listening TCP socket: give canary-proxy's .socket unit a ListenStream= of an address"
                    + " and port";
        }
        for (String line : Files.readAllLines(Path.of("/proc/self/fdinfo/" + fd))) {
            if (line.startsWith("flags:")) {
                int flags = Integer.parseInt(line.substring("flags:".length()).trim(), 8);
                return (flags & O_NONBLOCK) != 0 ? null : "is in blocking mode, which would stall the event loop:"
                        + " set NonBlocking=true in canary-proxy's .service unit";
            }
        }
        return "cannot be checked (no flags in its fdinfo)";
    }

    /** Whether {@code /proc/net/tcp} or {@code tcp6} has the socket with this inode, in state LISTEN ({@code 0A}). */
    private static boolean isListeningTcp(String inode) throws IOException {
        for (String table : new String[] {"/proc/net/tcp", "/proc/net/tcp6"}) {
            Path file = Path.of(table);
            if (!Files.exists(file)) {
                continue;
            }
            for (String line : Files.readAllLines(file)) {
                String[] f = line.trim().split("\\s+");
                if (f.length > 9 && f[9].equals(inode)) {
                    return f[3].equals("0A");
                }
            }
        }
        return false;
    }

    /** {@code O_NONBLOCK} on Linux, whose {@code fdinfo} shows the flags in octal. */
    private static final int O_NONBLOCK = 04000;
}
