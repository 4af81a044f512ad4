#!/usr/bin/env bash
# Prepares everything bench/device-check.sh needs on a GPU machine that has CUDA but no JDK and
# cannot download anything. Run it HERE (with a JDK 25 and Maven), then carry .jre and java/target:
#   .jre           a small Java 25 runtime (jlink; ../shared/device/make-jre.sh when present)
#   java/target    classes, test classes, runtime jars (lib/) and test jars (test-lib/: the JUnit
#                  console launcher and AssertJ), the JCuda natives jar slimmed to the driver binding
# and prints the size of the tree plus what is carried, which must stay under 64 MiB.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

jdk=${JAVA25_HOME:-${JAVA_HOME:-}}
if [[ -z $jdk || ! -x $jdk/bin/jlink ]]; then
  for d in /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/*25*; do [[ -x $d/bin/jlink ]] && { jdk=$d; break; }; done
fi
[[ -n $jdk && -x $jdk/bin/jlink ]] || { echo "prepare-device: no JDK 25 with jlink found (set JAVA25_HOME)" >&2; exit 1; }

# 1. The runtime.
if [[ -x ../shared/device/make-jre.sh ]]; then
  JAVA25_HOME=$jdk ../shared/device/make-jre.sh .jre >&2
else
  rm -rf .jre
  "$jdk/bin/jlink" --add-modules java.base,jdk.incubator.vector,java.logging,jdk.unsupported,java.management,jdk.httpserver,java.net.http \
    --compress zip-9 --strip-debug --no-man-pages --no-header-files --output .jre >&2
fi
grep -qxF '.jre/' .gitignore 2>/dev/null || grep -qxF '.jre' .git/info/exclude 2>/dev/null || echo '.jre' >> "$(git rev-parse --git-path info/exclude)"

# 2. The engine, its test classes and jars (tests are compiled, not run).
JAVA_HOME=$jdk MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow" \
  mvn -B -q -ntp -pl java -DskipTests package >&2
rm -rf java/target/surefire-reports java/target/maven-status java/target/generated-sources \
  java/target/generated-test-sources java/target/maven-archiver

# 3. JCuda's natives jar carries compilers (NVRTC, nvPTXCompiler) the engine does not use: keep the
#    driver binding only (libJCudaDriver, which needs just the driver's libcuda.so.1).
natives=$(ls java/target/lib/jcuda-natives-*.jar)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && "$jdk/bin/jar" xf "$root/$natives" && rm -f lib/libJNvPTXCompiler* lib/libJNvrtc* lib/libJCudaRuntime* \
  && rm -f "$root/$natives" && "$jdk/bin/jar" cf "$root/$natives" -C "$tmp" lib)

# 4. --slim: the runtime as .jre.tar.xz (device-check.sh unpacks it), for runs that carry the demo
#    models too: carry [".jre.tar.xz", "java/target"] instead of [".jre", "java/target"].
if [[ ${1:-} == --slim ]]; then
  tar -cJf .jre.tar.xz .jre
  grep -qxF '.jre.tar.xz' "$(git rev-parse --git-path info/exclude)" || echo '.jre.tar.xz' >> "$(git rev-parse --git-path info/exclude)"
  jre_carried=$(du -sb .jre.tar.xz | cut -f1)
  echo "slim: .jre.tar.xz $(echo "$jre_carried/1048576" | bc -l | cut -c1-5) MiB" >&2
fi

# 5. Sizes.
tree=$(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
untracked=$(git ls-files -z --others --exclude-standard | xargs -0 -r du -cb 2>/dev/null | tail -1 | cut -f1)
jre=$(du -sb .jre | cut -f1)
[[ ${1:-} == --slim ]] && jre=$jre_carried
target=$(du -sb java/target | cut -f1)
total=$(( tree + ${untracked:-0} + jre + target ))
printf 'tree %.1f MiB (+ untracked %.1f MiB), .jre %.1f MiB, java/target %.1f MiB: total %.1f MiB (limit 64 MiB)\n' \
  "$(echo "$tree/1048576" | bc -l)" "$(echo "${untracked:-0}/1048576" | bc -l)" "$(echo "$jre/1048576" | bc -l)" \
  "$(echo "$target/1048576" | bc -l)" "$(echo "$total/1048576" | bc -l)"
if (( total >= 64 * 1048576 )); then echo "prepare-device: over 64 MiB" >&2; exit 1; fi
if [[ ${1:-} == --slim ]]; then
  echo 'carry: [".jre.tar.xz", "java/target"]   command: bench/device-check.sh "$OUT"'
else
  echo 'carry: [".jre", "java/target"]   command: bench/device-check.sh "$OUT"'
fi
