"""seqcnn.score.accel"""
