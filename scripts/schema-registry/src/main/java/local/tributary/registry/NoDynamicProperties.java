package local.tributary.registry;

import io.apicurio.common.apps.config.DynamicConfigPropertyList;
import java.util.List;
import javax.enterprise.inject.Produces;
import javax.inject.Singleton;

/**
 * The registry's list of properties that can be changed at run time. Apicurio's build step that
 * fills it is not on Maven Central, so the list is empty: every setting is fixed at start-up, which
 * is all the local tests need.
 */
public class NoDynamicProperties {
  @Produces
  @Singleton
  DynamicConfigPropertyList properties() {
    return new DynamicConfigPropertyList(List.of());
  }
}
