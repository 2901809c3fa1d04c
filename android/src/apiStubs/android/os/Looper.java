package android.os; public final class Looper { public static Looper getMainLooper(){return null;} public boolean isCurrentThread(){return false;} }
