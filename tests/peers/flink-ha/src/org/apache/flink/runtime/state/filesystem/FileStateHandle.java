// Stand-in for Flink's org.apache.flink.runtime.state.filesystem.FileStateHandle (flinkbr test
// peer): same name, fields (filePath: Path, stateSize: long), serialVersionUID, no writeObject.
// ObjectOutputStream orders fields itself (primitives first, then by name), so the declaration
// order here does not change the bytes.
package org.apache.flink.runtime.state.filesystem;

import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.state.StreamStateHandle;

public class FileStateHandle implements StreamStateHandle {
  private static final long serialVersionUID = 350284443258002355L;

  private final Path filePath;

  private final long stateSize;

  public FileStateHandle(Path filePath, long stateSize) {
    if (filePath == null || stateSize < -1) throw new IllegalArgumentException("bad handle");
    this.filePath = filePath;
    this.stateSize = stateSize;
  }

  public Path getFilePath() {
    return filePath;
  }

  @Override
  public long getStateSize() {
    return stateSize;
  }
}
