package io.canaryproxy.admin;

import static io.canaryproxy.admin.AdminCalls.json;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Level;
import com.fasterxml.jackson.databind.JsonNode;
import io.canaryproxy.CanaryProxy;
import io.canaryproxy.routing.RouteTable;
import java.net.http.HttpResponse;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@code POST /canary}, {@code /promote} and {@code /rollback} against a real {@link CanaryProxy} whose releases
 * blue and green are real gunicorns serving the test Django app, which says who answered ({@link AdminFixture}).
 */
class CanaryApiTest {

    private static AdminFixture fixture;

    private CanaryProxy proxy;
    private AdminCalls calls;

    @BeforeAll
    static void startReleases() {
        fixture = new AdminFixture();
    }

    @AfterAll
    static void stopReleases() {
        if (fixture != null) {
            fixture.close();
        }
    }

    @BeforeEach
    void start() {
        calls = fixture.start("");
        proxy = fixture.proxy();
    }

    @AfterEach
    void stop() {
        fixture.stop();
    }

    @Test
    void canarySetsTheWeightAnswersTheNewTableAndLogsWhoDidIt() throws Exception {
        long version = proxy.routes().version();
        AdminCalls.Logged logged = calls.postLogged("/canary?release=green&weight=12.5");
        HttpResponse<String> r = logged.response();
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("content-type")).hasValue("application/json");
        JsonNode table = json(r);
        assertThat(table.get("stable").asText()).isEqualTo("blue");
        assertThat(table.get("canary").asText()).isEqualTo("green");
        assertThat(table.get("weight").asDouble()).isEqualTo(12.5);
        assertThat(table.get("version").asLong()).isEqualTo(version + 1);
        assertThat(table.get("previous").asText()).isEqualTo("blue");
        assertThat(table.get("previousCanary").isNull()).isTrue();

        RouteTable routes = proxy.routes();
        assertThat(routes.canary()).isEqualTo("green");
        assertThat(routes.weightBasisPoints()).isEqualTo(1250);

        JsonNode status = json(calls.get("/status"));
        assertThat(status.get("canary").asText()).isEqualTo("green");
        assertThat(status.get("weight").asDouble()).isEqualTo(12.5);

        assertThat(logged.log()).anySatisfy(e -> {
            assertThat(e.getLevel()).isEqualTo(Level.INFO);
            assertThat(e.getFormattedMessage()).startsWith("127.0.0.1:")
                    .contains("canary: blue -> blue + canary green at 12.5% (route table v" + (version + 1) + ")");
        });
    }

    @Test
    void theWeightDecidesWhereUsersGo() throws Exception {
        assertThat(calls.post("/canary?release=green&weight=100").statusCode()).isEqualTo(200);
        assertThat(json(calls.get("/status")).get("weight").isIntegralNumber()).isTrue();
        for (int i = 0; i < 5; i++) {
            assertThat(calls.viaProxy("/").body()).isEqualTo("release=green\n");
        }
        HttpResponse<String> zero = calls.post("/canary?release=green&weight=0");
        assertThat(zero.statusCode()).isEqualTo(200);
        assertThat(json(zero).get("canary").asText()).isEqualTo("green");
        assertThat(json(zero).get("previousCanary").asText()).isEqualTo("green");
        for (int i = 0; i < 5; i++) {
            assertThat(calls.viaProxy("/").body()).isEqualTo("release=blue\n");
        }
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "abc      | query parameter 'weight' = \"abc\": expected a percentage from 0 to 100 with at most 2 decimals, e.g. 10 or 12.5",
        "150      | query parameter 'weight' = \"150\": must be from 0 to 100 (a percentage of users)",
        "-1       | query parameter 'weight' = \"-1\": must be from 0 to 100 (a percentage of users)",
        "100.01   | query parameter 'weight' = \"100.01\": must be from 0 to 100 (a percentage of users)",
        "NaN      | query parameter 'weight' = \"NaN\": expected a percentage from 0 to 100 with at most 2 decimals, e.g. 10 or 12.5",
        "Infinity | query parameter 'weight' = \"Infinity\": expected a percentage from 0 to 100 with at most 2 decimals, e.g. 10 or 12.5",
        "1e400    | query parameter 'weight' = \"1e400\": expected a percentage from 0 to 100 with at most 2 decimals, e.g. 10 or 12.5",
        "12.345   | query parameter 'weight' = \"12.345\": at most 2 decimals: the weight has a resolution of 0.01 %",
        "10%25    | query parameter 'weight' = \"10%\": expected a percentage from 0 to 100 with at most 2 decimals, e.g. 10 or 12.5",
        "0x10     | query parameter 'weight' = \"0x10\": expected a percentage from 0 to 100 with at most 2 decimals, e.g. 10 or 12.5",
        "%20%2010 | query parameter 'weight' = \"  10\": expected a percentage from 0 to 100 with at most 2 decimals, e.g. 10 or 12.5",
    })
    void aBadWeightIsABadRequestNamingTheProblem(String weight, String message) throws Exception {
        long version = proxy.routes().version();
        HttpResponse<String> r = calls.post("/canary?release=green&weight=" + weight);
        assertThat(r.statusCode()).isEqualTo(400);
        assertThat(r.headers().firstValue("content-type")).hasValue("application/json");
        assertThat(json(r).get("error").asText()).isEqualTo(message);
        assertThat(proxy.routes().version()).isEqualTo(version);
        assertThat(proxy.routes().canary()).isNull();
    }

    @Test
    void weightsWithTwoDecimalsOrTrailingZerosAreExact() throws Exception {
        assertThat(json(calls.post("/canary?release=green&weight=0.01")).get("weight").asDouble()).isEqualTo(0.01);
        assertThat(proxy.routes().weightBasisPoints()).isEqualTo(1);
        assertThat(json(calls.post("/canary?release=green&weight=33.30")).get("weight").asDouble()).isEqualTo(33.3);
        assertThat(proxy.routes().weightBasisPoints()).isEqualTo(3330);
        assertThat(json(calls.post("/canary?release=green&weight=100.00")).get("weight").asInt()).isEqualTo(100);
        assertThat(proxy.routes().weightBasisPoints()).isEqualTo(10_000);
    }

    @Test
    void canaryOfAnUnknownReleaseOrOfTheStableOneIsABadRequest() throws Exception {
        HttpResponse<String> unknown = calls.post("/canary?release=purple&weight=10");
        assertThat(unknown.statusCode()).isEqualTo(400);
        assertThat(json(unknown).get("error").asText()).isEqualTo("unknown release 'purple' (known: blue, green)");

        HttpResponse<String> stable = calls.post("/canary?release=blue&weight=10");
        assertThat(stable.statusCode()).isEqualTo(400);
        assertThat(json(stable).get("error").asText())
                .isEqualTo("'blue' is the stable release; a canary must be another");

        HttpResponse<String> noWeight = calls.post("/canary?release=green");
        assertThat(noWeight.statusCode()).isEqualTo(400);
        assertThat(json(noWeight).get("error").asText())
                .isEqualTo("missing query parameter 'weight', e.g. /canary?release=green&weight=10");

        HttpResponse<String> noRelease = calls.post("/canary?weight=10");
        assertThat(noRelease.statusCode()).isEqualTo(400);
        assertThat(json(noRelease).get("error").asText()).contains("missing query parameter 'release'");

        HttpResponse<String> badForce = calls.post("/canary?release=green&weight=10&force=maybe");
        assertThat(badForce.statusCode()).isEqualTo(400);
        assertThat(json(badForce).get("error").asText()).contains("'force'");

        assertThat(proxy.routes().canary()).isNull();
        assertThat(proxy.routes().version()).isZero();
    }

    @Test
    void canaryToAReleaseWithoutHealthyEndpointIsAConflictUnlessForced() throws Exception {
        fixture.unhealthy("green", true);
        await("green's only endpoint reported unhealthy").atMost(Duration.ofSeconds(5))
                .pollInterval(Duration.ofMillis(50))
                .until(() -> !proxy.status().releases().get("green").endpoints().get(0).healthy());

        HttpResponse<String> refused = calls.post("/canary?release=green&weight=10");
        assertThat(refused.statusCode()).isEqualTo(409);
        assertThat(json(refused).get("error").asText())
                .startsWith("release 'green' has no healthy endpoint (").contains(": GET /healthz answered 503")
                .endsWith("); start it first, or force the change");
        assertThat(proxy.routes().canary()).isNull();

        HttpResponse<String> forced = calls.post("/canary?release=green&weight=10&force=true");
        assertThat(forced.statusCode()).isEqualTo(200);
        assertThat(json(forced).get("canary").asText()).isEqualTo("green");
    }

    @Test
    void promoteMakesTheCanaryStable() throws Exception {
        assertThat(calls.post("/canary?release=green&weight=10").statusCode()).isEqualTo(200);
        AdminCalls.Logged logged = calls.postLogged("/promote");
        HttpResponse<String> r = logged.response();
        assertThat(r.statusCode()).isEqualTo(200);
        JsonNode table = json(r);
        assertThat(table.get("stable").asText()).isEqualTo("green");
        assertThat(table.get("canary").isNull()).isTrue();
        assertThat(table.get("weight").asInt()).isZero();
        assertThat(table.get("version").asLong()).isEqualTo(2);
        assertThat(table.get("previous").asText()).isEqualTo("blue");
        assertThat(table.get("previousCanary").asText()).isEqualTo("green");
        assertThat(proxy.routes().stable()).isEqualTo("green");
        assertThat(calls.viaProxy("/").body()).isEqualTo("release=green\n");
        assertThat(logged.log()).anySatisfy(e -> assertThat(e.getFormattedMessage()).startsWith("127.0.0.1:")
                .endsWith("promote: blue + canary green at 10% -> green (route table v2)"));
    }

    @Test
    void rollbackSendsTheCanaryNoMoreUsers() throws Exception {
        assertThat(calls.post("/canary?release=green&weight=100").statusCode()).isEqualTo(200);
        assertThat(calls.viaProxy("/").body()).isEqualTo("release=green\n");
        AdminCalls.Logged logged = calls.postLogged("/rollback");
        HttpResponse<String> r = logged.response();
        assertThat(r.statusCode()).isEqualTo(200);
        JsonNode table = json(r);
        assertThat(table.get("stable").asText()).isEqualTo("blue");
        assertThat(table.get("canary").isNull()).isTrue();
        assertThat(table.get("previous").asText()).isEqualTo("blue");
        assertThat(table.get("previousCanary").asText()).isEqualTo("green");
        assertThat(calls.viaProxy("/").body()).isEqualTo("release=blue\n");
        assertThat(json(calls.get("/status")).get("canary").isNull()).isTrue();
        assertThat(logged.log()).anySatisfy(e -> assertThat(e.getFormattedMessage())
                .endsWith("rollback: blue + canary green at 100% -> blue (route table v2)"));
    }

    @Test
    void promoteOrRollbackWithoutACanaryIsAConflict() throws Exception {
        HttpResponse<String> promote = calls.post("/promote");
        assertThat(promote.statusCode()).isEqualTo(409);
        assertThat(json(promote).get("error").asText()).isEqualTo("there is no canary to promote");

        HttpResponse<String> rollback = calls.post("/rollback");
        assertThat(rollback.statusCode()).isEqualTo(409);
        assertThat(json(rollback).get("error").asText()).isEqualTo("there is no canary to roll back");

        assertThat(proxy.routes().stable()).isEqualTo("blue");
        assertThat(proxy.routes().version()).isZero();
    }

    @Test
    void everyMutationNeedsTheToken() throws Exception {
        for (String call : new String[] {"/canary?release=green&weight=10", "/promote", "/rollback", "/reload"}) {
            HttpResponse<String> none = calls.post(call, null);
            assertThat(none.statusCode()).as(call).isEqualTo(401);
            assertThat(json(none).get("error").asText()).as(call).contains("Authorization: Bearer");
            HttpResponse<String> wrong = calls.post(call, "guess");
            assertThat(wrong.statusCode()).as(call).isEqualTo(401);
            assertThat(json(wrong).get("error").asText()).as(call).isEqualTo("wrong bearer token");
        }
        assertThat(proxy.routes().canary()).isNull();
        assertThat(proxy.routes().version()).isZero();
    }

    @Test
    void mutationsAreNotReadsAndReadsAreNotMutations() throws Exception {
        for (String call : new String[] {"/canary?release=green&weight=10", "/promote", "/rollback", "/reload"}) {
            HttpResponse<String> r = calls.get(call);
            assertThat(r.statusCode()).as(call).isEqualTo(405);
            assertThat(r.headers().firstValue("allow")).as(call).hasValue("POST");
        }
        HttpResponse<String> postMetrics = calls.post("/metrics");
        assertThat(postMetrics.statusCode()).isEqualTo(405);
        assertThat(postMetrics.headers().firstValue("allow")).hasValue("GET, HEAD");
        assertThat(proxy.routes().version()).isZero();
    }
}
