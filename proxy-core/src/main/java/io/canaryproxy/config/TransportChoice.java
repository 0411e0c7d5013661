package io.canaryproxy.config;

import java.util.Locale;

/** The I/O transport asked for by {@code proxy.transport}; the listener package turns it into event loops. */
public enum TransportChoice {
    /** Native epoll where it loads, Java NIO otherwise. */
    AUTO,
    /** Native epoll; starting fails where it does not load. */
    EPOLL,
    /** Native io_uring; starting fails where the kernel or a seccomp filter does not allow it. */
    IO_URING,
    /** Java NIO, on every platform. */
    NIO;

    /** The spelling in the config file: {@code auto}, {@code epoll}, {@code io_uring}, {@code nio}. */
    @Override
    public String toString() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** The choice spelled {@code text} (case-insensitive), or {@code null}. */
    static TransportChoice parse(String text) {
        for (TransportChoice choice : values()) {
            if (choice.toString().equalsIgnoreCase(text.trim())) {
                return choice;
            }
        }
        return null;
    }
}
