package org.gridworker.core

import java.time.LocalDate
import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test
import java.time.Duration

/** Residents and households from Kotlin: search, masking, offline edits, a conflict resolved on the phone. */
class ResidentsTest {
    private fun options() = defaultSyncOptions().copy(
        allowHttp = true,
        maxAttempts = 2,
        baseBackoff = Duration.ofMillis(20),
        maxBackoff = Duration.ofMillis(50),
        requestTimeout = Duration.ofSeconds(10),
    )

    /** The first household of the worker's grid with a head of household and another resident. */
    private fun family(w: GridWorker): HouseholdDetail {
        val grid = w.workerGrids().first()
        var after: String? = null
        while (true) {
            val page = w.householdsPage(grid, after, 50)
            for (h in page.items) {
                val d = w.householdDetail(h.id)
                if (d.residents.size >= 2 && d.residents[0].relation == Relation.HEAD) return d
            }
            after = page.next ?: error("no family in the grid")
        }
    }

    @Test
    fun searchMaskEditAndResolveAConflictOnThePhone() {
        ReferenceServer().use { server ->
            GridWorker.open(TestSupport.config(TestSupport.tempDir(), serverUrl = server.url)).use { w ->
                SyncEngine(w, options(), StaticTokens("tok-1")).use { engine ->
                    runBlocking { engine.sync() }
                    assertTrue(w.keyGroups().any { it.code == "veteran" })
                    val family = family(w)
                    val head = family.residents[0]

                    // Lists are masked; one explicit call shows a resident whole.
                    assertTrue(head.masked)
                    assertTrue(head.idNumber, Regex("""\d{6}\*{8}[\dX]{4}""").matches(head.idNumber))
                    val full = w.residentUnmasked(head.id)
                    assertFalse(full.masked)
                    assertEquals(18, full.idNumber.length)
                    assertEquals(full.idNumber.substring(6, 10), full.birthDate!!.year.toString())

                    // Found by name and by the last four digits of the ID number.
                    for (q in listOf(head.name, full.idNumber.takeLast(4))) {
                        val hits = w.searchHouseholds(q, null, 50).items
                        assertTrue("query $q", hits.any { it.household.id == family.household.id })
                    }

                    // Offline: a new phone; meanwhile the back office changes it and the tags.
                    val edited = w.updateResident(head.id, ResidentUpdate(phone = "139 0000 2222"), null)
                    assertEquals("139****2222", edited.phone)
                    assertEquals(200, server.admin("PATCH", "/admin/v1/residents/${head.id}",
                        """{"phone":"13833334444","tags":["veteran"]}"""))
                    runBlocking { engine.sync() }

                    assertEquals(listOf("veteran"), w.residentUnmasked(head.id).tags)
                    val open = w.conflictsPage(false, null, 50).items
                    assertEquals(1, open.size)
                    assertEquals("phone", open[0].field)
                    assertEquals(FieldValue.Text("139****2222"), open[0].mine)
                    val c = w.conflict(open[0].id)
                    assertEquals(FieldValue.Text("13900002222"), c.mine)
                    assertEquals(FieldValue.Text("13833334444"), c.theirs)

                    // A new value entered on the phone settles it.
                    val resolved = w.resolveConflict(c.id, Resolution.VALUE, FieldValue.Text("13955556666"))
                    assertTrue(resolved.resolving)
                    assertEquals("13955556666", w.residentUnmasked(head.id).phone)
                    runBlocking { engine.sync() }
                    assertTrue(w.conflictsPage(false, null, 50).items.isEmpty())
                    assertTrue(w.conflictsPage(true, null, 50).items.single().resolved)
                    assertEquals("13955556666", w.residentUnmasked(head.id).phone)
                }
            }
        }
    }

    @Test
    fun badInputIsATypedErrorNamingTheFieldAndRecordsNothing() {
        ReferenceServer().use { server ->
            GridWorker.open(TestSupport.config(TestSupport.tempDir(), serverUrl = server.url)).use { w ->
                SyncEngine(w, options(), StaticTokens("tok-1")).use { engine ->
                    runBlocking { engine.sync() }
                    val family = family(w)
                    val pending = w.syncCounts().pending
                    fun add(id: String, phone: String? = null, tags: List<String> = listOf()) = w.addResident(
                        NewResident(family.household.id, "张三", id, phone, Relation.CHILD, tags), null,
                    )
                    for ((field, call) in listOf(
                        "id_number" to { add("110105194912310021") },
                        "id_number" to { add("11010519491331002X") },
                        "phone" to { add("11010519491231002X", phone = "12345") },
                        "tags" to { add("11010519491231002X", tags = listOf("vip")) },
                    )) {
                        try {
                            call()
                            fail("$field accepted")
                        } catch (e: GridWorkerException.InvalidInput) {
                            assertEquals(field, e.field)
                            assertTrue(field, e.input != InputField.OTHER)
                            assertFalse(e.message ?: "", (e.message ?: "").contains("110105"))
                        }
                    }
                    try {
                        w.setResidentStatus("r-none", ResidentStatus.MOVED_OUT, null)
                        fail("unknown resident accepted")
                    } catch (e: GridWorkerException.NotFound) {
                        assertEquals(NotFoundKind.RESIDENT, e.kind)
                    }
                    assertEquals(pending, w.syncCounts().pending)
                    assertEquals(family, w.householdDetail(family.household.id))

                    // A good one is recorded, shown, and found.
                    val added = add("11010519491231002X", phone = "15900001234", tags = listOf("veteran"))
                    assertEquals(Sex.FEMALE, added.sex)
                    assertEquals(LocalDate.of(1949, 12, 31), added.birthDate)
                    assertTrue(w.searchHouseholds("1234", null, 50).items.any { it.household.id == family.household.id })
                    assertTrue(w.keyGroupHouseholds("veteran", null, 500).items.any { it.household.id == family.household.id })
                }
            }
        }
    }
}
