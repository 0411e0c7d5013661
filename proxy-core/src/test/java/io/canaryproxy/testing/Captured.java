package io.canaryproxy.testing;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import java.util.List;
import org.slf4j.LoggerFactory;

/** The log lines of one class while open, whichever thread writes them; closing stops the capture. */
public final class Captured implements AutoCloseable {

    private final Logger logger;
    private final ListAppender<ILoggingEvent> appender = new ListAppender<>();

    private Captured(String name) {
        logger = (Logger) LoggerFactory.getLogger(name);
        appender.start();
        logger.addAppender(appender);
    }

    public static Captured from(Class<?> source) {
        return new Captured(source.getName());
    }

    /** The logger named {@code name}: a class this test's package cannot see, such as the upstream failure log. */
    public static Captured from(String name) {
        return new Captured(name);
    }

    /** The formatted messages so far, oldest first. */
    public List<String> messages() {
        synchronized (appender) { // AppenderBase.doAppend holds this lock while it adds
            return appender.list.stream().map(ILoggingEvent::getFormattedMessage).toList();
        }
    }

    public List<Level> levels() {
        synchronized (appender) {
            return appender.list.stream().map(ILoggingEvent::getLevel).toList();
        }
    }

    @Override
    public void close() {
        logger.detachAppender(appender);
    }
}
