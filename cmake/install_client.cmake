# The installable C client library: the targets beebeebrain::client (shared)
# and beebeebrain::client_static, always defined, and with BBB_INSTALL what
# cmake --install puts:
#   include/beebeebrain/{client,status,subscriber,client_api}.h and v1/*.pb-c.h
#   lib/libbeebeebrain-client.so.X.Y.Z (soname .so.MAJOR) and libbeebeebrain-client.a
#   lib/pkgconfig/beebeebrain-client.pc
#   lib/cmake/beebeebrain/ (find_package(beebeebrain CONFIG): beebeebrain::client,
#                           beebeebrain::client_static)
# Both libraries are made of the objects of bbb_client, bbb_base and bbb_proto
# (all PIC), so nothing is compiled again. The shared one exports only the
# public API (bbb_*) and the generated protobuf-c code (beebeebrain__*):
# client.map keeps the internal helpers (xmalloc, enum_text) private.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(BBB_CLIENT_OBJECTS $<TARGET_OBJECTS:bbb_client> $<TARGET_OBJECTS:bbb_base> $<TARGET_OBJECTS:bbb_proto>)
set(BBB_CLIENT_HEADERS ${PROJECT_SOURCE_DIR}/include/beebeebrain/client.h
                       ${PROJECT_SOURCE_DIR}/include/beebeebrain/status.h
                       ${PROJECT_SOURCE_DIR}/include/beebeebrain/subscriber.h ${GEN_DIR}/beebeebrain/client_api.h)
set(BBB_PROTO_HEADERS)
foreach(src ${PROTO_SRCS})
  string(REGEX REPLACE "\\.c$" ".h" hdr ${src})
  list(APPEND BBB_PROTO_HEADERS ${hdr})
endforeach()

add_library(beebeebrain_client SHARED ${BBB_CLIENT_OBJECTS})
add_library(beebeebrain_client_static STATIC ${BBB_CLIENT_OBJECTS})
foreach(t beebeebrain_client beebeebrain_client_static)
  add_dependencies(${t} bbb_client)
  set_target_properties(${t} PROPERTIES OUTPUT_NAME beebeebrain-client)
  target_include_directories(${t} INTERFACE $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
                                            $<BUILD_INTERFACE:${GEN_DIR}>
                                            $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
endforeach()
set_target_properties(beebeebrain_client PROPERTIES VERSION ${PROJECT_VERSION} SOVERSION ${PROJECT_VERSION_MAJOR}
                                                    EXPORT_NAME client)
set_target_properties(beebeebrain_client_static PROPERTIES EXPORT_NAME client_static)
target_link_options(beebeebrain_client PRIVATE -Wl,--version-script=${PROJECT_SOURCE_DIR}/cmake/client.map
                    -Wl,--no-undefined)
set_property(TARGET beebeebrain_client APPEND PROPERTY LINK_DEPENDS ${PROJECT_SOURCE_DIR}/cmake/client.map)
target_link_libraries(beebeebrain_client PUBLIC PkgConfig::PROTOBUFC PRIVATE beebeebrain::nng Threads::Threads)
target_link_libraries(beebeebrain_client_static PUBLIC PkgConfig::PROTOBUFC beebeebrain::nng Threads::Threads)
# As a subdirectory of another project: the same names as after find_package.
add_library(beebeebrain::client ALIAS beebeebrain_client)
add_library(beebeebrain::client_static ALIAS beebeebrain_client_static)

if(NOT BBB_INSTALL)
  return()
endif()

install(TARGETS beebeebrain_client beebeebrain_client_static EXPORT beebeebrainTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(FILES ${BBB_CLIENT_HEADERS} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/beebeebrain)
install(FILES ${BBB_PROTO_HEADERS} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/beebeebrain/v1)

set(BBB_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/beebeebrain)
install(EXPORT beebeebrainTargets NAMESPACE beebeebrain:: DESTINATION ${BBB_CMAKE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/beebeebrainConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/beebeebrainConfig.cmake INSTALL_DESTINATION ${BBB_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/beebeebrainConfigVersion.cmake VERSION ${PROJECT_VERSION}
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/beebeebrainConfig.cmake ${PROJECT_BINARY_DIR}/beebeebrainConfigVersion.cmake
        DESTINATION ${BBB_CMAKE_DIR})

# pkg-config: the public headers include <protobuf-c/protobuf-c.h>, so
# libprotobuf-c is Required; nng (no .pc file on Debian) and threads are only
# needed to link the static library.
# The file is written at install time, when CMAKE_INSTALL_PREFIX is the
# prefix actually installed to (`cmake --install build --prefix P` changes it
# after configure).
install(CODE "
  set(PROJECT_VERSION \"${PROJECT_VERSION}\")
  set(CMAKE_INSTALL_LIBDIR \"${CMAKE_INSTALL_LIBDIR}\")
  set(CMAKE_INSTALL_INCLUDEDIR \"${CMAKE_INSTALL_INCLUDEDIR}\")
  configure_file(\"${PROJECT_SOURCE_DIR}/cmake/beebeebrain-client.pc.in\"
                 \"${PROJECT_BINARY_DIR}/pkgconfig/beebeebrain-client.pc\" @ONLY)")
install(FILES ${PROJECT_BINARY_DIR}/pkgconfig/beebeebrain-client.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
