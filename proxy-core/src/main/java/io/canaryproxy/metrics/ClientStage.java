package io.canaryproxy.metrics;

import java.util.Locale;

/**
 * Where an exchange is from its client's side: the {@code stage} label of {@code canary_proxy_client_aborted_total},
 * and of a request still under way that a drain lists.
 */
public enum ClientStage {
    /** Still sending its body. */
    SENDING,
    /** All sent; no response yet. */
    WAITING,
    /** Getting the response. */
    RECEIVING;

    /** {@code sending}, {@code waiting} or {@code receiving}, as the metric's label and the admin API say it. */
    public String token() {
        return name().toLowerCase(Locale.ROOT);
    }
}
