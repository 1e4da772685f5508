// Test stand-in for Flink's org.apache.flink.core.fs.Path: the same name, serialVersionUID and
// one serialized field (java.net.URI uri; Flink's Path has no writeObject/readObject, its
// read/write methods are Flink's own IOReadableWritable, not Java serialization). The two
// constructors build the URI the way Flink's do, so that the strings match what a JobManager
// writes: "file:///data/ha" + child gives "file:/data/ha/child" (the empty authority is lost
// when the parent is re-made with a trailing slash), paths are quoted by
// URI(scheme, authority, path, null, null).
package org.apache.flink.core.fs;

import java.net.URI;
import java.net.URISyntaxException;

public class Path implements java.io.Serializable {
  private static final long serialVersionUID = 1L;

  private URI uri;

  // A path string: "scheme:" when a ':' comes before every '/', "//authority" after it.
  public Path(String s) {
    String scheme = null;
    String authority = null;
    int start = 0;
    int colon = s.indexOf(':');
    int slash = s.indexOf('/');
    if (colon != -1 && (slash == -1 || colon < slash)) {
      scheme = s.substring(0, colon);
      start = colon + 1;
    }
    if (s.startsWith("//", start) && s.length() - start > 2) {
      int next = s.indexOf('/', start + 2);
      int end = next > 0 ? next : s.length();
      authority = s.substring(start + 2, end);
      start = end;
    }
    init(scheme, authority, s.substring(start));
  }

  private Path(String scheme, String authority, String path) {
    init(scheme, authority, path);
  }

  // child resolved against parent, as FileSystemStateStorageHelper names its files.
  public Path(Path parent, String childString) {
    try {
      URI p = parent.uri;
      if (!(p.getPath().equals("/") || p.getPath().isEmpty())) {
        p = new URI(p.getScheme(), p.getAuthority(), p.getPath() + "/", null, null);
      }
      URI c = new Path(childString).uri;
      if (c.getPath().startsWith("/")) {
        c = new Path(c.getScheme(), c.getAuthority(), c.getPath().substring(1)).uri;
      }
      URI r = p.resolve(c);
      init(r.getScheme(), r.getAuthority(), r.getPath());
    } catch (URISyntaxException e) {
      throw new IllegalArgumentException(e);
    }
  }

  private void init(String scheme, String authority, String path) {
    path = path.replace("\\", "/").replaceAll("/+", "/");
    if (path.endsWith("/") && !path.equals("/")) {
      path = path.substring(0, path.length() - 1);
    }
    try {
      uri = new URI(scheme, authority, path, null, null).normalize();
    } catch (URISyntaxException e) {
      throw new IllegalArgumentException(e);
    }
  }

  public URI toUri() {
    return uri;
  }

  // Flink's Path.toString: the URI with its path decoded.
  @Override
  public String toString() {
    StringBuilder b = new StringBuilder();
    if (uri.getScheme() != null) b.append(uri.getScheme()).append(':');
    if (uri.getAuthority() != null) b.append("//").append(uri.getAuthority());
    if (uri.getPath() != null) b.append(uri.getPath());
    return b.toString();
  }
}
