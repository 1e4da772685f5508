// Stand-in for Flink's org.apache.flink.runtime.state.StreamStateHandle (flinkbr test peer). Its
// name matters: it is the declared type of RetrievableStreamStateHandle's only field, and the
// field's type signature is written into the pointer bytes.
package org.apache.flink.runtime.state;

public interface StreamStateHandle extends StateObject {}
