package io.canaryproxy.listener;

import java.time.Duration;

/**
 * A request still under way, for an operator whose drain is waiting on it: what it is, for whom, how long it has
 * run and where it is.
 *
 * @param method the request's method
 * @param path   its target without the query (a query may carry a token), as the failure log writes it
 * @param client the client's address, or the one a trusted proxy in front forwarded for
 * @param age    time since its head came
 * @param stage  {@code receiving the body}, {@code waiting for the response}, {@code sending the response (200)}
 *               or {@code sending a static file}
 */
public record InFlightRequest(String method, String path, String client, Duration age, String stage) {
}
