// Test stand-in for Flink's class: the same name, serialVersionUID, fields and types, and no
// writeObject/readObject (Flink's has none).
package org.apache.flink.runtime.state.filesystem;

import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.state.StreamStateHandle;

public class FileStateHandle implements StreamStateHandle {
  private static final long serialVersionUID = 350284443258002355L;

  private final Path filePath;
  private final long stateSize;

  public FileStateHandle(Path filePath, long stateSize) {
    this.filePath = filePath;
    this.stateSize = stateSize;
  }

  public Path getFilePath() {
    return filePath;
  }

  public long getStateSize() {
    return stateSize;
  }
}
