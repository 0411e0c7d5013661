package io.canaryproxy.admin;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.handler.codec.http.HttpResponseStatus;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class QueryParamsTest {

    private static final Duration DEFAULT = Duration.ofSeconds(30);
    private static final Duration MAX = Duration.ofHours(1);

    @Test
    void splitsPathAndDecodesParameters() {
        QueryParams q = QueryParams.parse("/drain?release=blue&timeout=500ms");
        assertThat(q.path()).isEqualTo("/drain");
        assertThat(q.required("release", "x")).isEqualTo("blue");
        assertThat(q.duration("timeout", DEFAULT, MAX)).isEqualTo(Duration.ofMillis(500));
        assertThat(QueryParams.parse("/switch?release=my%20app").required("release", "x")).isEqualTo("my app");
    }

    @Test
    void missingOrEmptyRequiredParameterIsABadRequest() {
        assertBadRequest(() -> QueryParams.parse("/switch").required("release", "/switch?release=green"),
                "missing query parameter 'release', e.g. /switch?release=green");
        assertBadRequest(() -> QueryParams.parse("/switch?release=").required("release", "/switch?release=green"),
                "query parameter 'release' is empty");
        assertBadRequest(() -> QueryParams.parse("/switch?release=a&release=b").required("release", "x"),
                "given more than once");
        assertThat(QueryParams.parse("/switch?release=a&release=a").required("release", "x")).isEqualTo("a");
    }

    @Test
    void booleans() {
        assertThat(QueryParams.parse("/switch").bool("force", false)).isFalse();
        assertThat(QueryParams.parse("/switch?force=true").bool("force", false)).isTrue();
        assertThat(QueryParams.parse("/switch?force=TRUE").bool("force", false)).isTrue();
        assertThat(QueryParams.parse("/switch?force=1").bool("force", false)).isTrue();
        assertThat(QueryParams.parse("/switch?force").bool("force", false)).isTrue();
        assertThat(QueryParams.parse("/switch?force=false").bool("force", true)).isFalse();
        assertThat(QueryParams.parse("/switch?force=0").bool("force", true)).isFalse();
        assertBadRequest(() -> QueryParams.parse("/switch?force=maybe").bool("force", false),
                "query parameter 'force' = \"maybe\": expected true or false");
    }

    @Test
    void durations() {
        assertThat(QueryParams.parse("/drain").duration("timeout", DEFAULT, MAX)).isEqualTo(DEFAULT);
        assertThat(QueryParams.parse("/drain?timeout=2m").duration("timeout", DEFAULT, MAX))
                .isEqualTo(Duration.ofMinutes(2));
        assertThat(QueryParams.parse("/drain?timeout=0s").duration("timeout", DEFAULT, MAX)).isZero();
        assertBadRequest(() -> QueryParams.parse("/drain?timeout=soon").duration("timeout", DEFAULT, MAX),
                "query parameter 'timeout' = \"soon\": expected a duration such as 30s, 500ms or 2m");
        assertBadRequest(() -> QueryParams.parse("/drain?timeout=-5s").duration("timeout", DEFAULT, MAX),
                "expected a duration");
        assertBadRequest(() -> QueryParams.parse("/drain?timeout=2h").duration("timeout", DEFAULT, MAX),
                "at most 1h");
    }

    @Test
    void malformedEscapesAreABadRequest() {
        assertBadRequest(() -> QueryParams.parse("/switch?release=%zz").required("release", "x"), "malformed");
    }

    private static void assertBadRequest(Runnable call, String message) {
        assertThatThrownBy(call::run)
                .isInstanceOfSatisfying(AdminException.class,
                        e -> assertThat(e.status()).isEqualTo(HttpResponseStatus.BAD_REQUEST))
                .hasMessageContaining(message);
    }
}
