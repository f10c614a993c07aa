# Sourced by bin/caskade and bin/test: finds a JDK >= 21 and exports JAVA_HOME.
caskade_find_jdk() {
  local c v
  for c in "${JAVA_HOME:-}" /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/*; do
    [ -n "$c" ] && [ -x "$c/bin/javac" ] || continue
    v=$("$c/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
    if [ -n "$v" ] && [ "${v%%.*}" -ge 21 ] 2>/dev/null; then
      export JAVA_HOME="$c"
      return 0
    fi
  done
  echo "caskade: no JDK >= 21 found (looked at JAVA_HOME and /usr/lib/jvm/*); install one, e.g. Temurin 25" >&2
  return 1
}
