// Standalone build of the gridworker Android library (AAR). An app can also include this
// module from its own settings: include(":gridworker"); project(":gridworker").projectDir = ...
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "gridworker-android"
