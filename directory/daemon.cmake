# daemon.cmake - strata-dird, the directory daemon around the FSM (included by CMakeLists.txt).
file(GLOB DIRD_SRC CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/dird_*.c)
add_executable(strata-dird ${DIRD_SRC})
target_include_directories(strata-dird PRIVATE ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(strata-dird PRIVATE dir_fsm strata_lib PkgConfig::RAFT PkgConfig::UV)
# libraft compresses snapshots with lz4. The shared libraft pulls it in itself; a static
# libraft needs -llz4, which exists only where the lz4 development files are installed.
find_library(STRATA_LZ4_LIB NAMES lz4)
if(STRATA_LZ4_LIB)
  target_link_libraries(strata-dird PRIVATE ${STRATA_LZ4_LIB})
endif()

# The transport wrapper's unit test: its feeding loop alone, then libraft itself on loopback.
strata_test(dird_test_transport unit ${CMAKE_CURRENT_LIST_DIR}/test_dird_transport.c
            ${CMAKE_CURRENT_LIST_DIR}/dird_transport.c)
target_include_directories(dird_test_transport PRIVATE ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(dird_test_transport PRIVATE dir_fsm strata_harness PkgConfig::RAFT
                      PkgConfig::UV)

# Snapshots in turn (dird_snapshot_turn, a pure function in dird.h).
strata_test(dird_test_snapshot unit ${CMAKE_CURRENT_LIST_DIR}/test_dird_snapshot.c)
target_include_directories(dird_test_snapshot PRIVATE ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(dird_test_snapshot PRIVATE dir_fsm PkgConfig::RAFT PkgConfig::UV)

# The cut of AppendEntries at the snapshot (dird_recv_trim), on hand-made messages.
strata_test(dird_test_recv unit ${CMAKE_CURRENT_LIST_DIR}/test_dird_recv.c
            ${CMAKE_CURRENT_LIST_DIR}/dird_recv.c)
target_include_directories(dird_test_recv PRIVATE ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(dird_test_recv PRIVATE dir_fsm strata_lib PkgConfig::RAFT PkgConfig::UV)

# Raft over TLS: the transport alone (preamble, refusals, dials, close, backpressure), and
# libraft over it.
foreach(t tls_transport tls_raft)
  strata_test(dird_test_${t} unit ${CMAKE_CURRENT_LIST_DIR}/test_dird_${t}.c
              ${CMAKE_CURRENT_LIST_DIR}/dird_tls_transport.c ${CMAKE_CURRENT_LIST_DIR}/dird_tls_conn.c
              ${CMAKE_CURRENT_LIST_DIR}/dird_tls_pump.c ${CMAKE_CURRENT_LIST_DIR}/dird_transport.c)
  target_include_directories(dird_test_${t} PRIVATE ${CMAKE_CURRENT_LIST_DIR})
  target_link_libraries(dird_test_${t} PRIVATE dir_fsm strata_harness PkgConfig::RAFT PkgConfig::UV)
endforeach()

# dird-transport-bench: Raft over TLS against plaintext Raft, the transports alone, two raft_io on
# one loop (docs/benchmarks.md).
add_executable(dird-transport-bench ${CMAKE_CURRENT_LIST_DIR}/bench_dird_transport.c
               ${CMAKE_CURRENT_LIST_DIR}/dird_transport.c ${CMAKE_CURRENT_LIST_DIR}/dird_tls_transport.c
               ${CMAKE_CURRENT_LIST_DIR}/dird_tls_conn.c ${CMAKE_CURRENT_LIST_DIR}/dird_tls_pump.c)
target_include_directories(dird-transport-bench PRIVATE ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(dird-transport-bench PRIVATE dir_fsm strata_lib strata_harness PkgConfig::RAFT
                      PkgConfig::UV)
