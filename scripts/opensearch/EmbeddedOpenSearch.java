package local.tributary.it;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collection;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import org.opensearch.common.logging.LogConfigurator;
import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.analysis.common.CommonAnalysisPlugin;
import org.opensearch.index.mapper.MapperExtrasPlugin;
import org.opensearch.index.reindex.ReindexPlugin;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.plugins.Plugin;
import org.opensearch.transport.Netty4Plugin;

/**
 * A single-node OpenSearch 2.x for local tests, started from the Maven Central jars (no tarball, no
 * Docker). Plugins come from the classpath: Node's protected constructor takes their classes, and
 * without Bootstrap there is no jar-hell check and no security manager. The security plugin is not
 * on the classpath, so the REST API is plain HTTP without auth.
 *
 * Usage: java -cp "classes:lib/*" local.tributary.it.EmbeddedOpenSearch HOME_DIR HTTP_PORT TRANSPORT_PORT
 */
public final class EmbeddedOpenSearch {
  private static final class ClasspathNode extends Node {
    ClasspathNode(Environment environment, Collection<Class<? extends Plugin>> plugins) {
      super(environment, plugins, true);
    }
  }

  public static void main(String[] args) throws Exception {
    if (args.length != 3) {
      System.err.println("usage: EmbeddedOpenSearch HOME_DIR HTTP_PORT TRANSPORT_PORT");
      System.exit(2);
    }
    Path home = Path.of(args[0]).toAbsolutePath();
    Files.createDirectories(home.resolve("data"));
    Files.createDirectories(home.resolve("logs"));
    Files.createDirectories(home.resolve("config"));
    Settings settings = Settings.builder()
        .put("path.home", home.toString())
        .put("path.data", home.resolve("data").toString())
        .put("path.logs", home.resolve("logs").toString())
        .put("cluster.name", "tributary-it")
        .put("node.name", "it-1")
        .put("network.host", "127.0.0.1")
        .put("http.port", args[1])
        .put("transport.port", args[2])
        .put("discovery.type", "single-node")
        // A nearly full CI disk must not turn the indices read-only.
        .put("cluster.routing.allocation.disk.threshold_enabled", false)
        .build();
    LogConfigurator.configureWithoutConfig(settings);
    Environment environment = InternalSettingsPreparer.prepareEnvironment(
        settings, Collections.emptyMap(), home.resolve("config"), () -> "it-1");
    List<Class<? extends Plugin>> plugins = List.of(
        Netty4Plugin.class, CommonAnalysisPlugin.class, MapperExtrasPlugin.class, ReindexPlugin.class);
    Node node = new ClasspathNode(environment, plugins);
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      try {
        node.close();
      } catch (Exception e) {
        e.printStackTrace();
      } finally {
        stopped.countDown();
      }
    }, "opensearch-shutdown"));
    node.start();
    System.out.println("EmbeddedOpenSearch started on http://127.0.0.1:" + args[1]);
    stopped.await();
  }
}
