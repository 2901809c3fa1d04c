package android.content;
public abstract class Context {
    public abstract Context getApplicationContext();
    public final <T> T getSystemService(Class<T> serviceClass) { return null; }
    public abstract java.io.File getNoBackupFilesDir();
}
