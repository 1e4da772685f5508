// Stand-in for Flink's org.apache.flink.runtime.state.RetrievableStreamStateHandle (flinkbr test
// peer): the object a ZooKeeper HA node holds, Java-serialized. Same class name, the same single
// field (name, declared type), the same serialVersionUID and no writeObject, so that
// ObjectOutputStream writes the bytes a Flink JobManager writes.
package org.apache.flink.runtime.state;

import java.io.Serializable;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.state.filesystem.FileStateHandle;

public class RetrievableStreamStateHandle<T extends Serializable>
    implements StreamStateHandle, RetrievableStateHandle<T> {
  private static final long serialVersionUID = 314567453677355L;

  private final StreamStateHandle wrappedStreamStateHandle;

  public RetrievableStreamStateHandle(StreamStateHandle streamStateHandle) {
    this.wrappedStreamStateHandle = streamStateHandle;
  }

  public RetrievableStreamStateHandle(Path filePath, long stateSize) {
    this(new FileStateHandle(filePath, stateSize));
  }

  public StreamStateHandle getWrappedStreamStateHandle() {
    return wrappedStreamStateHandle;
  }

  @Override
  public long getStateSize() {
    return wrappedStreamStateHandle.getStateSize();
  }
}
