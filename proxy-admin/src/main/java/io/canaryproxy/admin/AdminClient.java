package io.canaryproxy.admin;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.channels.UnresolvedAddressException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

/** The admin API as {@code ctl} calls it: one request per call, every failure a {@link CtlException}. */
final class AdminClient {

    static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(5);
    static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(30);

    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * @param json the body as JSON, or {@code null} when it is not JSON
     */
    record Answer(String url, int status, String body, JsonNode json) {

        boolean ok() {
            return status >= 200 && status < 300;
        }
    }

    private final URI base;
    private final String token;
    private final HttpClient http;

    /**
     * @param base  the admin API's root, e.g. {@code http://127.0.0.1:9901}, without a trailing slash
     * @param token the bearer token, or {@code null}
     */
    AdminClient(URI base, String token) {
        this.base = base;
        this.token = token;
        this.http = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(CONNECT_TIMEOUT)
                .followRedirects(HttpClient.Redirect.NEVER)
                .build();
    }

    URI base() {
        return base;
    }

    Answer get(String pathAndQuery, Duration timeout) {
        return send(HttpRequest.newBuilder(uri(pathAndQuery)).GET(), timeout);
    }

    Answer post(String pathAndQuery) {
        return send(HttpRequest.newBuilder(uri(pathAndQuery)).POST(HttpRequest.BodyPublishers.noBody()),
                REQUEST_TIMEOUT);
    }

    /** The JSON of a 2xx answer; anything else is a {@link CtlException} with the proxy's reason. */
    static JsonNode expectOk(Answer answer) {
        if (answer.ok() && answer.json() != null) {
            return answer.json();
        }
        throw refused(answer);
    }

    /** The proxy's refusal as the operator reads it: its {@code error}, or what came back instead. */
    static CtlException refused(Answer answer) {
        if (answer.json() != null && answer.json().hasNonNull("error")) {
            String message = answer.json().get("error").asText();
            if (answer.status() == 401) {
                message += " (give the admin token with --token or " + Ctl.ENV_TOKEN + ")";
            }
            if (answer.status() == 404) {
                // ctl asks only for what every admin API serves: --admin names a path under it, so nothing was
                // asked of the proxy at all.
                return new CtlException(Ctl.EXIT_UNREACHABLE, message + " (--admin is the admin API's address"
                        + " without a path, such as " + base(answer.url()) + ")");
            }
            return new CtlException(Ctl.EXIT_REFUSED, message);
        }
        String body = answer.body().strip();
        if (body.length() > 200) {
            body = body.substring(0, 200) + "...";
        }
        // Not the admin API's refusal (it always says why, in JSON): something else answers at that address, and
        // a deploy script must not take it for the proxy saying no.
        return new CtlException(Ctl.EXIT_UNREACHABLE, "unexpected answer from " + answer.url() + ": HTTP "
                + answer.status() + (answer.json() == null ? ", not JSON" : "")
                + (body.isEmpty() ? "" : ": " + body) + " (is " + base(answer.url()) + " canary-proxy's admin API?)");
    }

    static String encode(String value) {
        return URLEncoder.encode(value, StandardCharsets.UTF_8);
    }

    private URI uri(String pathAndQuery) {
        return URI.create(base + pathAndQuery);
    }

    private Answer send(HttpRequest.Builder request, Duration timeout) {
        request.timeout(timeout).header("Accept", "application/json, text/plain");
        if (token != null) {
            request.header("Authorization", "Bearer " + token);
        }
        HttpRequest built = request.build();
        String url = built.uri().toString();
        HttpResponse<String> response;
        try {
            response = http.send(built, HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        } catch (HttpConnectTimeoutException e) {
            throw unreachable("no connection within " + Durations.format(CONNECT_TIMEOUT));
        } catch (HttpTimeoutException e) {
            throw new CtlException(Ctl.EXIT_UNREACHABLE, "the admin API at " + base + " did not answer "
                    + built.method() + " " + built.uri().getRawPath() + " within " + Durations.format(timeout));
        } catch (ConnectException e) {
            throw unreachable(reason(e));
        } catch (IOException e) {
            throw new CtlException(Ctl.EXIT_UNREACHABLE, "cannot talk to the admin API at " + base + ": " + reason(e));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CtlException(Ctl.EXIT_UNREACHABLE, "interrupted while waiting for the admin API at " + base);
        }
        JsonNode json = null;
        String contentType = response.headers().firstValue("content-type").orElse("");
        if (contentType.startsWith("application/json")) {
            try {
                json = JSON.readTree(response.body());
            } catch (JsonProcessingException e) {
                // not JSON after all: the caller says so
            }
        }
        return new Answer(url, response.statusCode(), response.body(), json);
    }

    private CtlException unreachable(String reason) {
        return new CtlException(Ctl.EXIT_UNREACHABLE, "cannot reach the admin API at " + base + ": " + reason
                + " (is canary-proxy running there? choose the address with --admin or " + Ctl.ENV_ADMIN_URL + ")");
    }

    /** {@code connection refused}, {@code cannot resolve the host name}, or the innermost message. */
    private static String reason(Throwable failure) {
        String message = null;
        for (Throwable t = failure; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof UnresolvedAddressException) {
                return "cannot resolve the host name";
            }
            if (t.getMessage() != null && !t.getMessage().isBlank()) {
                message = t.getMessage();
            }
        }
        if (failure instanceof ConnectException && (message == null || message.contains("refused"))) {
            return "connection refused";
        }
        return message == null ? failure.getClass().getSimpleName() : message;
    }

    private static String base(String url) {
        URI uri = URI.create(url);
        return uri.getScheme() + "://" + uri.getRawAuthority();
    }
}
