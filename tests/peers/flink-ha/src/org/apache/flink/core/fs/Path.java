// Stand-in for Flink's org.apache.flink.core.fs.Path (flinkbr test peer). Flink's Path is
// Serializable with serialVersionUID 1 and one non-static, non-transient field, `uri`
// (java.net.URI); it defines no writeObject/readObject/writeReplace, so its serialized form is
// the JDK's default field serialization. The constructors below reproduce how Flink builds that
// URI from a path string (scheme and authority split by hand, the rest given to the JDK's
// five-argument URI constructor, which percent-encodes what it must, then normalize()), so that
// pointers for paths with spaces or non-ASCII characters come out as Flink's do. The URI itself
// is the JDK's class.
package org.apache.flink.core.fs;

import java.io.Serializable;
import java.net.URI;
import java.net.URISyntaxException;

public class Path implements Serializable {
  private static final long serialVersionUID = 1L;

  private URI uri;

  public Path(URI uri) {
    this.uri = uri;
  }

  // A path string such as "file:///tmp/ha" or "/tmp/ha": unescaped, as in Flink's configuration.
  public Path(String pathString) {
    if (pathString == null || pathString.isEmpty())
      throw new IllegalArgumentException("Can not create a Path from an empty string");
    String scheme = null;
    String authority = null;
    int start = 0;
    final int colon = pathString.indexOf(':');
    final int slash = pathString.indexOf('/');
    if (colon != -1 && (slash == -1 || colon < slash)) {
      scheme = pathString.substring(0, colon);
      start = colon + 1;
    }
    if (pathString.startsWith("//", start) && pathString.length() - start > 2) {
      final int nextSlash = pathString.indexOf('/', start + 2);
      final int authEnd = nextSlash > 0 ? nextSlash : pathString.length();
      authority = pathString.substring(start + 2, authEnd);
      start = authEnd;
    }
    initialize(scheme, authority, pathString.substring(start));
  }

  // Child resolution as Flink does it: the parent gets a trailing slash, the child's leading
  // slash goes, URI.resolve joins them, and the result is built again from its components.
  public Path(Path parent, String child) {
    URI parentUri = parent.uri;
    final String parentPath = parentUri.getPath();
    try {
      if (!(parentPath.equals("/") || parentPath.isEmpty())) {
        parentUri =
            new URI(parentUri.getScheme(), parentUri.getAuthority(), parentPath + "/", null, null);
      }
      Path c = new Path(child);
      URI childUri = c.uri;
      if (childUri.getPath().startsWith("/")) {
        childUri =
            new URI(childUri.getScheme(), childUri.getAuthority(), childUri.getPath().substring(1),
                null, null);
      }
      final URI resolved = parentUri.resolve(childUri);
      initialize(resolved.getScheme(), resolved.getAuthority(), resolved.getPath());
    } catch (URISyntaxException e) {
      throw new IllegalArgumentException(e);
    }
  }

  private void initialize(String scheme, String authority, String path) {
    path = path.replace("\\", "/").replaceAll("/+", "/");
    if (path.endsWith("/") && !path.equals("/")) path = path.substring(0, path.length() - 1);
    try {
      this.uri = new URI(scheme, authority, path, null, null).normalize();
    } catch (URISyntaxException e) {
      throw new IllegalArgumentException(e);
    }
  }

  public URI toUri() {
    return uri;
  }

  public String getName() {
    final String p = uri.getPath();
    return p.substring(p.lastIndexOf('/') + 1);
  }

  @Override
  public String toString() {
    StringBuilder b = new StringBuilder();
    if (uri.getScheme() != null) b.append(uri.getScheme()).append(':');
    if (uri.getAuthority() != null) b.append("//").append(uri.getAuthority());
    if (uri.getPath() != null) b.append(uri.getPath());
    return b.toString();
  }
}
