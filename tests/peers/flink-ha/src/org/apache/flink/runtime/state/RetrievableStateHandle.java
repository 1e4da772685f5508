// Stand-in for Flink's org.apache.flink.runtime.state.RetrievableStateHandle (flinkbr test peer).
package org.apache.flink.runtime.state;

import java.io.Serializable;

public interface RetrievableStateHandle<T extends Serializable> extends StateObject {}
