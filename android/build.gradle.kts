// Android library module: the generated Kotlin bindings (src/main/kotlin/org/gridworker/core),
// small platform helpers (src/main/kotlin/org/gridworker/android) and libgridworker_ffi.so for
// arm64-v8a, armeabi-v7a and x86_64, built by cargo-ndk before every build.
//
// Not compiled on the project's machines (no Android SDK, Gradle or NDK there): see README.md.

import org.gradle.api.tasks.Exec

plugins {
    id("com.android.library") version "8.7.3"
    id("org.jetbrains.kotlin.android") version "2.1.0"
}

// The repository around this module: projectDir, not rootDir, which is the app's root when
// an app includes this module from its own settings.
val repoRoot: File = projectDir.parentFile
val jniLibsOut: File = layout.buildDirectory.dir("rustJniLibs").get().asFile

android {
    namespace = "org.gridworker.core"
    compileSdk = 35
    // 16 KB page-size support (Android 15+) needs NDK r27 or newer.
    ndkVersion = "27.2.12479018"

    defaultConfig {
        minSdk = 26
        consumerProguardFiles("consumer-rules.pro")
        testInstrumentationRunner = "androidx.test.runner.AndroidJUnitRunner"
    }

    sourceSets {
        getByName("main") {
            kotlin.srcDirs("src/main/kotlin")
            jniLibs.srcDirs(jniLibsOut)
        }
        // The JVM tests in src/test run against the host library through scripts/test-kotlin.sh.
        getByName("test") {
            kotlin.srcDirs("src/test/kotlin")
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    packaging {
        // Keep the .so uncompressed and page-aligned in the APK so it can be mapped directly.
        jniLibs.useLegacyPackaging = false
    }
}

kotlin {
    jvmToolchain(17)
}

dependencies {
    // uniffi's Kotlin calls the library through JNA; the @aar variant carries JNA's own .so.
    implementation("net.java.dev.jna:jna:5.14.0@aar")
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-android:1.9.0")
    implementation("androidx.work:work-runtime-ktx:2.10.0")
    testImplementation("junit:junit:4.13.2")
    testImplementation("net.java.dev.jna:jna:5.14.0")
    testImplementation("org.jetbrains.kotlinx:kotlinx-coroutines-core:1.9.0")
}

// cargo-ndk builds the release profile of gridworker-ffi for each ABI. The linker flag
// aligns ELF segments to 16 KB, which Android 15+ devices with 16 KB pages require.
val cargoNdk by tasks.registering(Exec::class) {
    workingDir = repoRoot
    environment("RUSTFLAGS", "-C link-arg=-Wl,-z,max-page-size=16384")
    commandLine(
        "cargo", "ndk",
        "-t", "arm64-v8a", "-t", "armeabi-v7a", "-t", "x86_64",
        "--platform", "26",
        "-o", jniLibsOut.path,
        "build", "--release", "-p", "gridworker-ffi",
    )
}

// The committed bindings must match the library being packaged.
val checkBindings by tasks.registering(Exec::class) {
    workingDir = repoRoot
    commandLine("scripts/generate-bindings.sh", "--check")
}

tasks.named("preBuild") {
    dependsOn(cargoNdk, checkBindings)
}
