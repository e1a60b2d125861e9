import org.gradle.api.tasks.Exec

plugins {
    alias(libs.plugins.android.application)
    alias(libs.plugins.kotlin.android)
    alias(libs.plugins.kotlin.compose)
}

// The Rust workspace root (this file is mobile-samples/android/app/build.gradle.kts).
val repoRoot: File = rootDir.resolve("../..").canonicalFile
// cargo-ndk writes libxuncha_ffi.so per ABI here; bindings/scripts/generate.sh writes the Kotlin.
val jniOut: File = layout.buildDirectory.dir("rustJniLibs").get().asFile
val generatedKotlin: File = repoRoot.resolve("build/bindings/kotlin")
val abis = listOf("arm64-v8a", "armeabi-v7a", "x86_64")

android {
    namespace = "cn.xuncha.app"
    compileSdk = 36
    // NDK r28+ links with 16 KB page alignment by default; the RUSTFLAGS below force it for older NDKs.
    ndkVersion = "28.2.13676358"

    defaultConfig {
        applicationId = "cn.xuncha.app"
        minSdk = 26
        targetSdk = 36
        versionCode = 1
        versionName = "0.1.0"
        ndk { abiFilters += abis }
        buildConfigField("String", "DEFAULT_SERVER_URL", "\"http://10.0.2.2:8080\"")
    }

    buildTypes {
        release {
            isMinifyEnabled = true
            proguardFiles(getDefaultProguardFile("proguard-android-optimize.txt"), "proguard-rules.pro")
        }
    }
    buildFeatures {
        compose = true
        buildConfig = true
    }
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    sourceSets["main"].java.srcDir(generatedKotlin)
    sourceSets["main"].jniLibs.srcDir(jniOut)
    packaging {
        // Keep .so files uncompressed and page-aligned in the APK (required for 16 KB devices).
        jniLibs.useLegacyPackaging = false
    }
}

kotlin { jvmToolchain(17) }

// 1. Host build + uniffi-bindgen: the Kotlin API is the same for every ABI.
val generateBindings by tasks.registering(Exec::class) {
    workingDir = repoRoot
    commandLine("bash", "bindings/scripts/generate.sh")
}

// 2. The phone libraries: `cargo install cargo-ndk` and an NDK (ANDROID_NDK_HOME) are needed.
//    `mobile` profile = opt-level s, fat LTO, stripped, panic=unwind (panics become exceptions).
val cargoNdk by tasks.registering(Exec::class) {
    workingDir = repoRoot
    environment("RUSTFLAGS", "-C link-arg=-Wl,-z,max-page-size=16384")
    val targets = abis.flatMap { listOf("-t", it) }
    commandLine(
        listOf("cargo", "ndk") + targets +
            listOf("--platform", "26", "-o", jniOut.absolutePath, "build", "-p", "xuncha-ffi", "--profile", "mobile"),
    )
}

tasks.named("preBuild") { dependsOn(generateBindings, cargoNdk) }

dependencies {
    implementation(libs.androidx.core.ktx)
    implementation(libs.androidx.activity.compose)
    implementation(libs.androidx.lifecycle.viewmodel.compose)
    implementation(libs.androidx.lifecycle.runtime.compose)
    implementation(libs.androidx.navigation.compose)
    implementation(platform(libs.compose.bom))
    implementation(libs.compose.ui)
    implementation(libs.compose.material3)
    implementation(libs.compose.ui.tooling.preview)
    implementation(libs.camerax.core)
    implementation(libs.camerax.camera2)
    implementation(libs.camerax.lifecycle)
    implementation(libs.camerax.view)
    implementation(libs.play.services.location)
    implementation(libs.work.runtime.ktx)
    implementation(libs.coroutines.android)
    // The AAR carries libjnidispatch.so for every ABI (the plain jar only has desktop ones).
    implementation("${libs.jna.get()}@aar")
}
