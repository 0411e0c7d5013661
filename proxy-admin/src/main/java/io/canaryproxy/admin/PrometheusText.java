package io.canaryproxy.admin;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads the samples of a Prometheus text exposition ({@code name{label="value",...} value [timestamp]} per line;
 * {@code #} lines and blank lines are skipped), as {@code GET /metrics} writes it.
 */
final class PrometheusText {

    /** One line of the exposition. */
    record Sample(String name, Map<String, String> labels, double value) {

        String label(String name) {
            return labels.get(name);
        }
    }

    private PrometheusText() {
    }

    /**
     * @throws IllegalArgumentException naming the line that is not a sample
     */
    static List<Sample> parse(String text) {
        List<Sample> samples = new ArrayList<>();
        String[] lines = text.split("\n", -1);
        for (int i = 0; i < lines.length; i++) {
            String line = lines[i].strip();
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            try {
                samples.add(new LineParser(line).sample());
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("line " + (i + 1) + " is not a sample (" + e.getMessage() + "): "
                        + AdminHandler.clean(line), e);
            }
        }
        return samples;
    }

    /** The sum of the values of every sample named {@code name} whose labels include {@code labels}. */
    static double sum(List<Sample> samples, String name, Map<String, String> labels) {
        double sum = 0;
        for (Sample s : samples) {
            if (s.name().equals(name) && s.labels().entrySet().containsAll(labels.entrySet())) {
                sum += s.value();
            }
        }
        return sum;
    }

    /** Whether any sample is named {@code name}. */
    static boolean has(List<Sample> samples, String name) {
        return samples.stream().anyMatch(s -> s.name().equals(name));
    }

    private static final class LineParser {
        private final String line;
        private int pos;

        LineParser(String line) {
            this.line = line;
        }

        Sample sample() {
            String name = name("metric name");
            Map<String, String> labels = new LinkedHashMap<>();
            if (peek() == '{') {
                pos++;
                skipSpaces();
                while (peek() != '}') {
                    String label = name("label name");
                    skipSpaces();
                    expect('=');
                    skipSpaces();
                    labels.put(label, quoted());
                    skipSpaces();
                    if (peek() == ',') {
                        pos++;
                        skipSpaces();
                    } else if (peek() != '}') {
                        throw new IllegalArgumentException("expected , or } at column " + (pos + 1));
                    }
                }
                pos++;
            }
            if (peek() != ' ' && peek() != '\t') {
                throw new IllegalArgumentException("expected a space before the value at column " + (pos + 1));
            }
            skipSpaces();
            int start = pos;
            while (pos < line.length() && line.charAt(pos) != ' ' && line.charAt(pos) != '\t') {
                pos++;
            }
            double value = value(line.substring(start, pos));
            // an optional timestamp may follow; it is not needed here
            return new Sample(name, Collections.unmodifiableMap(labels), value);
        }

        private String name(String what) {
            int start = pos;
            while (pos < line.length()) {
                char c = line.charAt(pos);
                boolean ok = c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                        || (pos > start && c >= '0' && c <= '9');
                if (!ok) {
                    break;
                }
                pos++;
            }
            if (pos == start) {
                throw new IllegalArgumentException("expected a " + what + " at column " + (start + 1));
            }
            return line.substring(start, pos);
        }

        private String quoted() {
            expect('"');
            StringBuilder value = new StringBuilder();
            while (pos < line.length()) {
                char c = line.charAt(pos++);
                if (c == '"') {
                    return value.toString();
                }
                if (c == '\\' && pos < line.length()) {
                    char escaped = line.charAt(pos++);
                    value.append(escaped == 'n' ? '\n' : escaped);
                } else {
                    value.append(c);
                }
            }
            throw new IllegalArgumentException("unterminated label value");
        }

        private static double value(String text) {
            switch (text) {
                case "+Inf":
                case "Inf":
                    return Double.POSITIVE_INFINITY;
                case "-Inf":
                    return Double.NEGATIVE_INFINITY;
                case "NaN":
                    return Double.NaN;
                default:
                    break;
            }
            if (text.isEmpty() || !text.matches("[-+]?[0-9.]+([eE][-+]?[0-9]+)?")) {
                throw new IllegalArgumentException("not a number: \"" + text + "\"");
            }
            return Double.parseDouble(text);
        }

        private char peek() {
            return pos < line.length() ? line.charAt(pos) : '\0';
        }

        private void expect(char c) {
            if (peek() != c) {
                throw new IllegalArgumentException("expected " + c + " at column " + (pos + 1));
            }
            pos++;
        }

        private void skipSpaces() {
            while (peek() == ' ' || peek() == '\t') {
                pos++;
            }
        }
    }
}
