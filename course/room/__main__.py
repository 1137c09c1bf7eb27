from course.room.app import main

main()
