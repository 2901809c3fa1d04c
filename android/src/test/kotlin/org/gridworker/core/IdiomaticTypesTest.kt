package org.gridworker.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test
import java.io.File
import java.time.LocalDate

/**
 * Issue 16 item 5: the Kotlin surface speaks Kotlin. Counts are `Int`/`Long`, days are
 * `java.time.LocalDate`, the district zone is an IANA id, and records the app only reads are
 * immutable (`val`) while the ones it edits stay `var`.
 */
class IdiomaticTypesTest {
    @Test
    fun theDistrictZoneIsAnIanaIdAndAnUnknownOneIsRefusedAtOpen() {
        val dir = TestSupport.tempDir()
        val berlin = TestSupport.config(dir).copy(timeZone = "Europe/Berlin")
        val e = assertThrows(GridWorkerException.InvalidInput::class.java) { GridWorker.open(berlin) }
        assertEquals("config.time_zone", e.field)
        assertEquals(InputField.CONFIG, e.input)
        assertFalse("a refused open creates nothing", File(dir, "store").exists())
        // The fixed offset stays as the fallback when no id is given.
        GridWorker.open(TestSupport.config(dir).copy(timeZone = null, utcOffsetMinutes = 480)).close()
        GridWorker.open(TestSupport.config(dir)).use { w ->
            assertEquals("Asia/Shanghai", TestSupport.config(dir).timeZone)
            val day = LocalDate.of(2026, 11, 30)
            val p = w.progressDay(day)
            assertEquals(day, p.fromDay)
            assertEquals(day, p.toDay)
            val week = w.progressWeek(IsoWeek(2026, 49))
            assertEquals(LocalDate.of(2026, 11, 30), week.fromDay)
            assertEquals(LocalDate.of(2026, 12, 6), week.toDay)
        }
    }

    @Test
    fun countsAreSignedAndPagesCapInsteadOfFailing() {
        val (w, _) = TestSupport.openSeeded()
        w.use {
            val counts: Long = it.syncCounts().pending.checkins
            assertEquals(0L, counts)
            val observers: Int = it.observerCount()
            assertEquals(0, observers)
            assertTrue(it.checkinsPage(null, 0).items.isEmpty())
            assertTrue(it.checkinsPage(null, Int.MAX_VALUE).items.isEmpty())
            assertEquals(2, it.nearbyPoints(Position(TestSupport.LAT, TestSupport.LON), 3).size) // both points
        }
    }

    @Test
    fun recordsTheAppOnlyReadsAreImmutableAndTheOnesItEditsAreNot() {
        fun setters(c: Class<*>) = c.methods.filter { it.name.startsWith("set") }.map { it.name }
        for (readOnly in listOf(CheckIn::class.java, Visit::class.java, PhotoReport::class.java, Task::class.java,
            LocationFix::class.java, SyncReport::class.java, PatrolProgress::class.java, Resident::class.java,
            HouseholdDetail::class.java, Conflict::class.java, KindCounts::class.java)) {
            assertEquals("${readOnly.simpleName} is read-only", emptyList<String>(), setters(readOnly))
        }
        for (edited in listOf(WorkerConfig::class.java, SyncOptions::class.java, ValidationPolicy::class.java,
            ResidentUpdate::class.java, HouseholdUpdate::class.java)) {
            assertTrue("${edited.simpleName} is edited field by field", setters(edited).isNotEmpty())
        }
        // The idiom for the others: copy with the fields that change.
        val fix = TestSupport.fix(TestSupport.LAT, TestSupport.LON)
        assertEquals(3.0, fix.copy(accuracyM = 3.0).accuracyM, 0.0)
    }
}
