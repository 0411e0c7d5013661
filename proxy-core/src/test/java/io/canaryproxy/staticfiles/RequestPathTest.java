package io.canaryproxy.staticfiles;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class RequestPathTest {

    @ParameterizedTest(name = "{0} -> {1}")
    @CsvSource(delimiter = '|', textBlock = """
            /static/app.css                 | app.css
            /static/css/app.4f3a.css        | css/app.4f3a.css
            /static/app.css?v=1             | app.css
            /static/app.css?v=1/../../x     | app.css
            /static/app.css#frag            | app.css
            /static/a%20b.css               | a b.css
            /static/caf%C3%A9.css           | café.css
            /static/caf\u00c3\u00a9.css       | café.css
            /static/%252e%252e              | %2e%2e
            /static/a+b.css                 | a+b.css
            /static/.well-known/x.json      | .well-known/x.json
            /static/...                     | ...
            /static/..a                     | ..a
            """)
    void decodesOnce(String uri, String relative) {
        assertThat(RequestPath.relative(uri, "/static/")).isEqualTo(relative);
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {
            "/static/", "/static/?x", "/static/css/", "/static/..", "/static/../x", "/static/a/../b", "/static/.",
            "/static/./a", "/static//a", "/static/a//b", "/static/%2e%2e/x", "/static/%2E./x", "/static/a%2fb",
            "/static/a%2Fb", "/static/a%5cb", "/static/a%5Cb", "/static/a\\b", "/static/a%00b", "/static/a%01b",
            "/static/a%7fb", "/static/a%0d%0aSet-Cookie:x", "/static/%", "/static/%4", "/static/%zz",
            "/static/%\u0663\u0663", "/static/a b", "/static/café", "/static/%C3", "/static/%c0%ae%c0%ae",
            "/static/%ff",
    })
    void refuses(String uri) {
        assertThat(RequestPath.relative(uri, "/static/")).isNull();
    }
}
