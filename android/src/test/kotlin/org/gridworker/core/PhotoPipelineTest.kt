package org.gridworker.core

import org.gridworker.core.TestSupport.LAT
import org.gridworker.core.TestSupport.LON
import org.gridworker.core.TestSupport.fix
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertTrue
import org.junit.Test
import java.awt.image.BufferedImage
import java.io.ByteArrayInputStream
import java.io.File
import java.util.Random
import javax.imageio.ImageIO

/** Issue 14 through the Kotlin API: a 12 MP camera photo goes in, a 1600 px JPEG is kept and sent. */
class PhotoPipelineTest {
    /** A 4000 x 3000 JPEG as a camera would leave it in the gallery (JVM ImageIO, noise over a gradient). */
    private fun twelveMegapixel(): File {
        val img = BufferedImage(4000, 3000, BufferedImage.TYPE_INT_RGB)
        val rnd = Random(7)
        for (y in 0 until 3000) for (x in 0 until 4000) {
            val n = rnd.nextInt(24)
            val r = (x * 200 / 4000 + n).coerceIn(0, 255)
            val g = (y * 200 / 3000 + n).coerceIn(0, 255)
            img.setRGB(x, y, (r shl 16) or (g shl 8) or 120)
        }
        val f = File(TestSupport.tempDir(), "IMG_20261130_091500.jpg")
        ImageIO.write(img, "jpg", f)
        return f
    }

    @Test
    fun aLargePhotoIsScaledToThePolicyEdgeAndKeepsItsOriginalsHash() {
        val src = twelveMegapixel()
        val (w, _) = TestSupport.openSeeded()
        w.use {
            val report = it.fileReport(
                "dumped_waste", "楼道堆物", listOf(PhotoInput(src.path, null)), fix(LAT, LON), null,
            )
            val photo = report.photos.single()
            assertEquals(MediaType.JPEG, photo.mediaType)
            assertEquals(src.length().toLong(), photo.originalSize)
            assertNotNull(photo.originalSha256)
            assertTrue("${photo.size} of ${src.length()}", photo.size * 4L < src.length().toLong())
            val bytes = it.photoBytes(photo.sha256)!!
            val stored = ImageIO.read(ByteArrayInputStream(bytes))
            assertEquals(1600, stored.width)
            assertEquals(1200, stored.height)
            // No EXIF in what is sent, and no evidence invented for a photo that had none.
            assertFalse(String(bytes, Charsets.ISO_8859_1).contains("Exif"))
            assertEquals(null, photo.exifPosition)
            assertFalse(report.flags.contains(Flag.PHOTO_FAR_FROM_FIX))
        }
    }

    @Test
    fun aPhotoTakenFarAwayFlagsTheReport() {
        // fixtures/photos/manhole-leak.jpg carries EXIF GPS in Jixi; the fix here is in the test grid.
        val (w, _) = TestSupport.openSeeded()
        w.use {
            val report = it.fileReport(
                "leaking_manhole", "井盖渗水", listOf(PhotoInput(TestSupport.photo("manhole-leak.jpg"), null)),
                fix(LAT, LON), null,
            )
            val photo = report.photos.single()
            assertNotNull(photo.exifPosition)
            assertNotNull(photo.exifTime)
            assertTrue(report.flags.toString(), report.flags.contains(Flag.PHOTO_FAR_FROM_FIX))
        }
    }
}
