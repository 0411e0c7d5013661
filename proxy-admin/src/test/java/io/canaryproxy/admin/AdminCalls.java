package io.canaryproxy.admin;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import org.slf4j.LoggerFactory;

/** HTTP calls to a running admin API and to the proxy in front of it, for tests. */
final class AdminCalls {

    private static final ObjectMapper JSON = new ObjectMapper();

    private final HttpClient client = HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5))
            .build();
    private final String admin;
    private final String proxy;
    private final String token;

    /**
     * @param token sent by {@link #post(String)} as a bearer token, or {@code null}
     */
    AdminCalls(AdminServer admin, io.canaryproxy.CanaryProxy proxy, String token) {
        this.admin = "http://127.0.0.1:" + admin.address().getPort();
        this.proxy = "http://127.0.0.1:" + proxy.listenAddress().getPort();
        this.token = token;
    }

    String adminUrl() {
        return admin;
    }

    HttpResponse<String> get(String pathAndQuery) throws Exception {
        return send(HttpRequest.newBuilder(URI.create(admin + pathAndQuery)).GET());
    }

    /** A GET with headers given as name, value pairs. */
    HttpResponse<String> get(String pathAndQuery, String... headers) throws Exception {
        return send(HttpRequest.newBuilder(URI.create(admin + pathAndQuery)).headers(headers).GET());
    }

    HttpResponse<String> head(String pathAndQuery) throws Exception {
        return send(HttpRequest.newBuilder(URI.create(admin + pathAndQuery))
                .method("HEAD", HttpRequest.BodyPublishers.noBody()));
    }

    /** A POST with the token. */
    HttpResponse<String> post(String pathAndQuery) throws Exception {
        return post(pathAndQuery, token);
    }

    HttpResponse<String> post(String pathAndQuery, String bearer) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(admin + pathAndQuery))
                .POST(HttpRequest.BodyPublishers.noBody());
        if (bearer != null) {
            b.header("Authorization", "Bearer " + bearer);
        }
        return send(b);
    }

    /** A POST with the token, and what the admin API logged at INFO and above meanwhile. */
    Logged postLogged(String pathAndQuery) throws Exception {
        ListAppender<ILoggingEvent> appender = captureLog();
        try {
            return new Logged(post(pathAndQuery), appender.list);
        } finally {
            releaseLog(appender);
        }
    }

    /** An answer and the admin API's log lines while it was answered. */
    record Logged(HttpResponse<String> response, List<ILoggingEvent> log) {
    }

    /** A request through the proxy's listener. */
    HttpResponse<String> viaProxy(String path, String... headers) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(proxy + path)).GET();
        if (headers.length > 0) {
            b.headers(headers);
        }
        return send(b);
    }

    private HttpResponse<String> send(HttpRequest.Builder request) throws Exception {
        return client.send(request.timeout(Duration.ofSeconds(15)).build(), HttpResponse.BodyHandlers.ofString());
    }

    static JsonNode json(HttpResponse<String> response) throws IOException {
        return JSON.readTree(response.body());
    }

    /** Starts collecting what the admin API logs at INFO and above. */
    static ListAppender<ILoggingEvent> captureLog() {
        Logger logger = (Logger) LoggerFactory.getLogger(AdminServer.class);
        ListAppender<ILoggingEvent> appender = new ListAppender<>();
        appender.start();
        logger.addAppender(appender);
        logger.setLevel(Level.INFO);
        return appender;
    }

    static void releaseLog(ListAppender<ILoggingEvent> appender) {
        Logger logger = (Logger) LoggerFactory.getLogger(AdminServer.class);
        logger.detachAppender(appender);
        logger.setLevel(null);
    }
}
