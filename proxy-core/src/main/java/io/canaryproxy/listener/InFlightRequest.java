package io.canaryproxy.listener;

import io.canaryproxy.metrics.ClientStage;
import java.time.Duration;

/**
 * A request still under way, for an operator whose drain is waiting on it: what it is, for whom, how long it has
 * run and where it is.
 *
 * @param method     the request's method
 * @param path       its target without the query (a query may carry a token), as the failure log writes it
 * @param client     the client's address, or the one a trusted proxy in front forwarded for
 * @param age        time since its head came
 * @param stage      where it is, from the client's side
 * @param status     the status of the response being received, or 0 before one began
 * @param staticFile whether it is a static file the proxy sends itself
 */
public record InFlightRequest(String method, String path, String client, Duration age, ClientStage stage,
                              int status, boolean staticFile) {

    /**
     * The stage in words, for a log line: {@code sending its body}, {@code waiting for the response},
     * {@code receiving the response (200)} or {@code receiving a static file}.
     */
    public String stageText() {
        return stageText(stage.token(), status, staticFile);
    }

    /** {@link #stageText()} from the admin API's fields. */
    public static String stageText(String stage, int status, boolean staticFile) {
        return switch (stage) {
            case "sending" -> "sending its body";
            case "waiting" -> "waiting for the response";
            case "receiving" -> staticFile ? "receiving a static file" : "receiving the response (" + status + ")";
            default -> stage;
        };
    }
}
