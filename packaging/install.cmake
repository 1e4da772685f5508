# Installation layout (`cmake --install`, and the .deb built by CPack from it):
#   bin/flinkbr                                the daemon and the CLI
#   share/flinkbr/console/                     the web console (web/dist; the daemon finds it
#                                              from its own path, server/daemon.cc)
#   lib/systemd/system/flinkbr.service         the unit (packaging/flinkbr.service)
#   share/doc/flinkbr/                         example configuration, alert rules, documentation
include(GNUInstallDirs)
# `make install` and cpack install what is built; they do not build every test first.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)

install(TARGETS flinkbr RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# web/dist is built by web/build.sh (npm), not by CMake: installed when present, at install time.
install(DIRECTORY ${PROJECT_SOURCE_DIR}/web/dist/ DESTINATION ${CMAKE_INSTALL_DATADIR}/flinkbr/console
        OPTIONAL)
install(CODE "
  if(NOT EXISTS \"${PROJECT_SOURCE_DIR}/web/dist/index.html\")
    message(WARNING \"web/dist is not built: the console is not installed (run web/build.sh first)\")
  endif()")
install(FILES ${PROJECT_SOURCE_DIR}/packaging/flinkbr.service DESTINATION lib/systemd/system)
install(FILES ${PROJECT_SOURCE_DIR}/examples/flinkbr.yaml DESTINATION ${CMAKE_INSTALL_DOCDIR}
        RENAME flinkbr.yaml.example)
install(FILES ${PROJECT_SOURCE_DIR}/docs/alerts.yaml ${PROJECT_SOURCE_DIR}/docs/operations.md
              ${PROJECT_SOURCE_DIR}/docs/configuration.md ${PROJECT_SOURCE_DIR}/docs/metrics.md
              ${PROJECT_SOURCE_DIR}/docs/cli.md ${PROJECT_SOURCE_DIR}/README.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR})

# CPack: `cpack -G DEB` in the build directory makes flinkbr_<version>_<arch>.deb. Its Depends
# come from dpkg-shlibdeps (the Debian runtime libraries the binary links), plus adduser for the
# service user.
set(CPACK_PACKAGE_NAME flinkbr)
set(CPACK_PACKAGE_VENDOR flinkbr)
set(CPACK_PACKAGE_CONTACT "flinkbr maintainers <flinkbr@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Backup and restoration of Apache Flink cluster metadata")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_STRIP_FILES ON)  # the debug info stays in the build tree
set(CPACK_DEBIAN_PACKAGE_DEPENDS adduser)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/packaging/postinst ${PROJECT_SOURCE_DIR}/packaging/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
