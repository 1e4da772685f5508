// Stand-in for Flink's org.apache.flink.runtime.state.StateObject (flinkbr test peer). Interfaces
// are not part of a serialized class descriptor; what matters is that it extends Serializable.
package org.apache.flink.runtime.state;

import java.io.Serializable;

public interface StateObject extends Serializable {
  long getStateSize();
}
