// Test stand-in for Flink's class: the same name, serialVersionUID, field name and type, and no
// writeObject/readObject (Flink's has none), so Java serializes it to the bytes Flink writes.
package org.apache.flink.runtime.state;

public class RetrievableStreamStateHandle<T extends java.io.Serializable>
    implements StreamStateHandle {
  private static final long serialVersionUID = 314567453677355L;

  private final StreamStateHandle wrappedStreamStateHandle;

  public RetrievableStreamStateHandle(StreamStateHandle wrapped) {
    this.wrappedStreamStateHandle = wrapped;
  }

  public StreamStateHandle wrapped() {
    return wrappedStreamStateHandle;
  }
}
